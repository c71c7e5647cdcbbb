"""Shared fixtures: a real SQLite file per test, an injected clock, API helpers, and (once per
session) a real ``turnero run`` server and a real Chromium for the browser tests."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from config import load_settings
from turnero import create_app
from turnero.accounts import Accounts
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.store import Store

LIMA = ZoneInfo("America/Lima")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

SEDE_TOML = """
[sede]
code = "TEST-01"
name = "Sede de prueba"
timezone = "America/Lima"
public_base_url = "http://turnero.test"
languages = ["es", "qu", "en"]

[[services]]
code = "ORI"
prefix = "A"
names = { es = "Orientación legal", en = "Legal advice" }
target_wait_minutes = 20
service_minutes = 10
appointments = true

[[services]]
code = "PEN"
prefix = "B"
names = { es = "Defensa penal" }
result_codes = { "PEN-01" = "Patrocinio asumido", "PEN-02" = "Orientación brindada" }

[[services]]
code = "VIC"
prefix = "V"
names = { es = "Defensa de víctimas" }
discreet = true
neutral_label = { es = "Atención reservada" }

[[services]]
code = "CON"
prefix = "C"
names = { es = "Conciliación extrajudicial" }
daily_cap = 3
hours = "08:00-17:00"

[[counters]]
id = "v1"
name = "Ventanilla 1"
services = ["ORI", "PEN"]

[[counters]]
id = "v2"
name = "Ventanilla 2"
services = ["ORI", "CON"]

[[counters]]
id = "c1"
name = "Consultorio 1"
services = ["VIC", "ORI"]

[printer]
type = "none"
"""

USERS = {"ana": "staff", "beto": "staff", "sofia": "supervisor", "root": "admin"}
PASSWORD = "clave-segura-123"


class FakeClock:
    """A settable wall clock (Unix seconds)."""

    def __init__(self, start: datetime):
        self.value = start.timestamp()

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float):
        self.value += seconds

    def set(self, moment: datetime):
        self.value = moment.timestamp()


def write_sede(data_dir: Path, text: str = SEDE_TOML, **replacements) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    for old, new in replacements.items():
        text = text.replace(old, new)
    (data_dir / "sede.toml").write_text(text, encoding="utf-8")
    return data_dir


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return write_sede(tmp_path / "data")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 25, 10, 0, tzinfo=LIMA))


@pytest.fixture
def engine(data_dir, clock) -> Engine:
    settings = load_settings(data_dir, {})
    store = Store.in_data_dir(data_dir)
    yield Engine(store, settings, SedeClock(settings.timezone, clock))
    store.close()


@pytest.fixture
def app(data_dir, clock):
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False,
                      "TESTING": True})
    yield app
    app.extensions["turnero"].stop()
    app.extensions["turnero"].store.close()


class Api:
    """A Flask test client that speaks the JSON API with a bearer token."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def as_(self, token) -> "Api":
        return Api(self.client, token)

    def _headers(self, headers=None):
        out = dict(headers or {})
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def get(self, path, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path, body=None, raw=None, **kwargs):
        headers = self._headers(kwargs.pop("headers", None))
        if raw is not None:
            return self.client.post(f"/api/v1{path}", data=raw, headers=headers, **kwargs)
        return self.client.post(f"/api/v1{path}", json=body if body is not None else {}, headers=headers, **kwargs)


_PASSWORD_HASH = []


def add_users_fast(store, users=USERS) -> dict:
    """Create users with one precomputed Argon2 hash and open a session for each (login itself is
    tested in test_api); returns username -> bearer token."""
    import secrets

    from argon2 import PasswordHasher

    from turnero.accounts import token_hash

    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(PasswordHasher().hash(PASSWORD))
    out = {}
    with store.write() as tx:
        for username, role in users.items():
            cursor = tx.execute("INSERT INTO users (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                                (username, role, _PASSWORD_HASH[0], tx.now))
            token = secrets.token_urlsafe(32)
            tx.execute("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                       (token_hash(token), cursor.lastrowid, tx.now, tx.now + 12 * 3600))
            out[username] = token
    return out


@pytest.fixture
def tokens(app) -> dict:
    box = app.extensions["turnero"]
    accounts = box.accounts
    out = add_users_fast(box.store)
    out["kiosk"] = accounts.add_device("kiosco-1", "kiosk")
    out["display"] = accounts.add_device("pantalla-1", "display")
    out["display_vic"] = accounts.add_device("pantalla-vic", "display", ["VIC"])
    return out


@pytest.fixture
def api(app, tokens) -> Api:
    return Api(app.test_client(), tokens["ana"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveBox:
    """A real ``turnero run`` process (Gunicorn, threads, WebSocket) on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int | None = None, env: dict | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or {}
        self.process = None
        self.tokens: dict = {}

    def prepare(self, users=USERS, devices=(("kiosco-1", "kiosk", []), ("pantalla-1", "display", []))):
        store = Store.in_data_dir(self.data_dir)
        accounts = Accounts(store)
        self.tokens.update(add_users_fast(store, users))
        for name, role, services in devices:
            self.tokens[name] = accounts.add_device(name, role, services)
        store.close()
        return self

    def start(self, timeout: float = 30):
        log = open(self.data_dir / "server.log", "ab")
        env = {**os.environ, "TURNERO_DATA_DIR": str(self.data_dir), **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "turnero.cli", "run", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnero run exited: {(self.data_dir / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code in (200, 503):
                    break
            except (requests.ConnectionError, requests.Timeout):  # a busy machine: a first answer may be slow
                time.sleep(0.1)
        else:
            raise RuntimeError("turnero run did not answer in time")
        return self

    def login(self, username: str) -> str:
        response = requests.post(self.url + "/api/v1/auth/login",
                                 json={"username": username, "password": PASSWORD}, timeout=10)
        response.raise_for_status()
        return response.json()["token"]

    def call(self, method: str, path: str, token_name: str = "ana", **kwargs):
        headers = kwargs.pop("headers", {})
        if token_name:
            headers["Authorization"] = f"Bearer {self.tokens[token_name]}"
        return requests.request(method, self.url + "/api/v1" + path, headers=headers, timeout=10, **kwargs)

    def release(self, counter: str):
        """Free a counter of the shared box whatever earlier tests left there (as the supervisor)."""
        counters = {c["id"]: c for c in self.call("GET", "/counters", "sofia").json()["counters"]}
        held = counters[counter]["ticket"]
        if held is not None:
            action = "finish" if held["status"] == "serving" else "cancel"
            body = {"outcome": "resolved"} if action == "finish" else {}
            self.call("POST", f"/tickets/{held['id']}/{action}", "sofia", json=body).raise_for_status()
        if counters[counter]["state"] != "closed":
            self.call("POST", f"/counters/{counter}/close", "sofia").raise_for_status()

    def kill(self, sig=9):
        """Kill the whole process group (Gunicorn master and worker) with ``sig``."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=15)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=5)


@pytest.fixture(scope="session")
def live_box(tmp_path_factory):
    """One real server for the whole session (browser tests share it)."""
    data_dir = write_sede(tmp_path_factory.mktemp("live") / "data")
    box = LiveBox(data_dir).prepare(devices=(("kiosco-1", "kiosk", []), ("pantalla-1", "display", []),
                                             ("pantalla-vic", "display", ["VIC"]))).start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the session, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; run scripts/bootstrap.sh as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required"])
        yield TestBrowser(browser)
        browser.close()


class TestBrowser:
    """The session's Chromium, whose contexts let the tests' own probes run: Playwright evaluates
    ``wait_for_function`` predicates and injected scripts with eval, which the box's
    Content-Security-Policy refuses. ``tests/test_csp.py`` opens every page under the policy."""

    def __init__(self, browser):
        self.browser = browser

    def new_context(self, **options):
        options.setdefault("bypass_csp", True)
        return self.browser.new_context(**options)

    def new_page(self, **options):
        options.setdefault("bypass_csp", True)
        return self.browser.new_page(**options)

    def __getattr__(self, name):
        return getattr(self.browser, name)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima")
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


BROKEN_WORDS_JS = r"""() => {
    const out = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {  // a word the browser had to break is drawn as more than one box
        const node = walker.currentNode, parent = node.parentElement;
        if (!parent || parent.closest('script, style') || !parent.getClientRects().length) continue;
        for (const word of node.data.matchAll(/\S+/g)) {
            const range = document.createRange();
            range.setStart(node, word.index);
            range.setEnd(node, word.index + word[0].length);
            if ([...range.getClientRects()].filter(r => r.width > 0 && r.height > 0).length > 1) out.push(word[0]);
        }
    }
    return out;
}"""


def broken_words(page) -> list[str]:
    """The words on ``page`` that the browser broke across lines (a code cut at its hyphen, a
    heading too wide for its column)."""
    return page.evaluate(BROKEN_WORDS_JS)


class Kiosks:
    """Threads issuing tickets over HTTP (as staff) until stopped or the box goes away (a kill);
    ``acknowledged`` holds every ticket answered with 201."""

    def __init__(self, box, count: int = 4, timeout: float = 5):
        self.box = box
        self.timeout = timeout
        self.acknowledged: list[dict] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._issue, daemon=True) for _ in range(count)]

    def start(self) -> "Kiosks":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout * 2)

    def _issue(self):
        http = requests.Session()
        headers = {"Authorization": f"Bearer {self.box.tokens['ana']}"}
        while not self._stop.is_set():
            try:
                response = http.post(f"{self.box.url}/api/v1/tickets", json={"service": "ORI"}, headers=headers,
                                     timeout=self.timeout)
            except requests.RequestException:  # the kill
                return
            if response.status_code == 201:
                self.acknowledged.append(response.json())  # (list.append is atomic)


def error_code(response):
    """The stable ``error.code`` of a JSON error answer of the Flask test client."""
    assert response.is_json, response.get_data(as_text=True)[:200]
    return response.json["error"]["code"]


def wait_for(predicate, timeout: float = 10) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; returns whether it held."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def event_types(events) -> list[str]:
    return [event["type"] for event in events]


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
