"""Shared parts of the sync benchmarks (not a benchmark itself): a box data directory with a
large backlog of realistic events, and a real ``turnero-central run`` server on 127.0.0.1."""
from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEDE_TOML = """
[sede]
code = "{code}"
name = "Sede {code}"
timezone = "America/Lima"

[[services]]
code = "ORI"
prefix = "A"
names = {{ es = "Orientación legal" }}

[[services]]
code = "PEN"
prefix = "B"
names = {{ es = "Defensa penal" }}

[[counters]]
id = "v1"
name = "Ventanilla 1"
services = ["ORI", "PEN"]

[sync]
central_url = "{url}"
token = "{token}"
batch_size = 500
timeout_seconds = 60
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def template_events(work: Path) -> list[tuple[str, str]]:
    """A real morning at a sede, through the engine: (type, data) of every event it wrote."""
    from config import load_settings
    from turnero.engine import Engine
    from turnero.store import Store

    data_dir = work / "template"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "sede.toml").write_text(SEDE_TOML.format(code="TPL", url="", token=""), encoding="utf-8")
    settings = load_settings(data_dir, {})
    store = Store.in_data_dir(data_dir)
    engine = Engine(store, settings)
    for i in range(40):
        engine.issue("PEN" if i % 3 == 0 else "ORI", document={"type": "DNI", "number": f"{40000000 + i:08d}"},
                     name=f"Persona {i}", channel="staff")
    while (ticket := engine.call_next("v1", "ana")) is not None:
        engine.start(ticket["id"], "ana")
        engine.finish(ticket["id"], "ana", "resolved", case_ref="EXP-1", notes="Nota de la atención " * 4)
    rows = [(row["type"], row["data"]) for row in store.read("SELECT type, data FROM events ORDER BY seq")]
    store.close()
    return rows


def make_box(work: Path, code: str, url: str, token: str, events: int, template: list) -> Path:
    """A box data directory whose events table holds ``events`` events built from the template."""
    from turnero.store import Store

    data_dir = work / code
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    (data_dir / "sede.toml").write_text(SEDE_TOML.format(code=code, url=url, token=token), encoding="utf-8")
    Store.in_data_dir(data_dir).close()  # the schema
    conn = sqlite3.connect(data_dir / "turnero.db")
    start = time.time() - 7 * 86400  # a week of backlog
    step = 7 * 86400 / events
    conn.executemany("INSERT INTO events (seq, id, type, at, data) VALUES (?, ?, ?, ?, ?)",
                     ((seq, str(uuid.uuid4()), *template[(seq - 1) % len(template)][:1], start + seq * step,
                       template[(seq - 1) % len(template)][1]) for seq in range(1, events + 1)))
    conn.commit()
    conn.close()
    return data_dir


class CentralProcess:
    """``turnero-central run`` (Gunicorn, threads) as a subprocess."""

    def __init__(self, database_url: str, workers: int = 1, threads: int = 16):
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.threads = threads
        self.process = None

    def add_sede(self, code: str) -> str:
        result = subprocess.run([sys.executable, "-m", "central.cli", "sede", "add", code, "--database-url",
                                 self.database_url], capture_output=True, text=True, check=True, cwd=ROOT)
        return result.stdout.strip().splitlines()[-1]

    def start(self):
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"central-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "run", "--port", str(self.port), "--database-url", self.database_url,
             "--workers", str(self.workers), "--threads", str(self.threads)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("turnero-central did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        self.log.close()


@contextmanager
def central_on(backend: str, work: Path, name: str):
    """A :class:`CentralProcess` (not started) on ``backend``: a durable temporary PostgreSQL with two
    workers, or the SQLite file ``work/name`` with one; stopped, and its PostgreSQL too, on leaving.
    Yields None (and says so) when PostgreSQL cannot run here."""
    pg = None
    if backend == "postgresql":
        from central.pgtemp import TempPostgres, unavailable_reason

        if unavailable_reason():
            print(f"postgresql: skipped ({unavailable_reason()})")
            yield None
            return
        pg = TempPostgres(durable=True).start()
        url, workers = pg.url, 2
    else:
        url, workers = f"sqlite:///{work / name}", 1
    central = CentralProcess(url, workers=workers, threads=16)
    try:
        yield central
    finally:
        central.stop()
        if pg:
            pg.stop()


def check_central(database_url: str, expected: dict[str, Path]) -> list[str]:
    """Compare each sede's events at the receiver with its box: (seq, id) all present, in order, once."""
    from central.db import Database

    db = Database(database_url)
    problems = []
    for code, data_dir in expected.items():
        conn = sqlite3.connect(data_dir / "turnero.db")
        box = conn.execute("SELECT seq, id FROM events ORDER BY seq").fetchall()
        conn.close()
        held = [tuple(row) for row in db.all("SELECT seq, id FROM events WHERE sede = ? ORDER BY seq", (code,))]
        received, acked = db.one("SELECT events_received, acked_seq FROM sedes WHERE code = ?", (code,))
        if held != box or received != len(box) or acked != len(box):
            problems.append(f"{code}: box {len(box)}, central {len(held)} rows, received {received}, acked {acked}")
    db.close()
    return problems


def push_box(data_dir: str) -> tuple[int, float]:
    """Push a box's whole backlog with the real agent; returns (events acknowledged, seconds)."""
    from config import load_settings
    from sync.agent import SyncAgent
    from turnero.engine import Engine
    from turnero.store import Store

    settings = load_settings(data_dir, {})
    store = Store.in_data_dir(data_dir)
    agent = SyncAgent(Engine(store, settings), settings.sync)
    started = time.perf_counter()
    count = agent.push_all()
    elapsed = time.perf_counter() - started
    agent.close()
    store.close()
    return count, elapsed


def json_line(**figures) -> str:
    return json.dumps(figures)
