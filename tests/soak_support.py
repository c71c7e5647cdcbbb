"""The actors of the soak test (tests/test_soak.py): a central receiver in its own process, a
kiosk, counter clerks and hall displays, all speaking to a real box over loopback.

Every actor keeps a plain record of what it was told (acknowledged tickets, calls, transitions,
pushed events) so the test can hold the box, the central side and the devices against each other
once the day is over. Actors retry through a box or central outage the way the real devices do:
the kiosk re-sends an issue with the same idempotency key; a clerk that lost an answer reads the
state back before going on.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
HTTP_TIMEOUT = 15


def wait_until(condition, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except TRANSIENT:
            pass
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --------------------------------------------------------------------------- the central receiver


class CentralProcess:
    """``turnero-central run`` in its own process (SQLite), stoppable with SIGKILL and restartable on
    the same port and database; the sede and its token are made with the central's own CLI."""

    def __init__(self, root: Path, port: int):
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.db_path = root / "central.db"
        self.database_url = f"sqlite:///{self.db_path}"
        self.process = None

    def cli(self, *args) -> str:
        done = subprocess.run([sys.executable, "-m", "central.cli", *args, "--database-url", self.database_url],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def add_sede(self, code: str, name: str) -> str:
        return self.cli("sede", "add", code, "--name", name).strip().splitlines()[-1]

    def start(self, timeout: float = 30) -> "CentralProcess":
        log = open(self.root / "central.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "run", "--host", "127.0.0.1", "--port", str(self.port),
             "--database-url", self.database_url], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"central exited: {(self.root / 'central.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except TRANSIENT:
                pass
            time.sleep(0.1)
        raise RuntimeError("central did not answer in time")

    def kill(self, sig=signal.SIGKILL):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=15)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


# --------------------------------------------------------------------------- HTTP with retries


class Caller:
    """One device's HTTP session to the box. ``send`` retries connection errors, timeouts and 5xx
    (the box is being killed and restarted) until a definitive answer; it says whether it had to
    retry, because then the first attempt may have been applied."""

    def __init__(self, url: str, token: str, stop: threading.Event):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.stop = stop
        self.retries = 0

    def send(self, method: str, path: str, body=None, headers=None, give_up: float = 120):
        retried = False
        deadline = time.monotonic() + give_up
        while True:
            try:
                response = self.session.request(method, self.url + "/api/v1" + path, json=body, headers=headers,
                                                timeout=HTTP_TIMEOUT)
                if response.status_code < 500 and response.status_code != 429:
                    return response, retried
            except TRANSIENT:
                self.session.close()  # a fresh connection after the box comes back
            retried = True
            self.retries += 1
            if time.monotonic() > deadline or self.stop.is_set():
                raise RuntimeError(f"{method} {path}: no answer for {give_up} s")
            time.sleep(0.1)


# --------------------------------------------------------------------------- the kiosk

PRIORITIES = ("gestante", "adulto_mayor", "discapacidad", "con_infante")


class Kiosk(threading.Thread):
    """Issues ``total`` tickets one after another, each with its own idempotency key, re-sent with
    the same key until the box answers 201."""

    def __init__(self, url, token, total: int, services: dict, stop: threading.Event, seed=7):
        super().__init__(name="soak-kiosk", daemon=True)
        self.caller = Caller(url, token, stop)
        self.total = total
        self.services = list(services)
        self.weights = list(services.values())
        self.rng = random.Random(seed)
        self.stop = stop
        self.issued = 0  # acknowledged so far (the conductor paces the faults on it)
        self.acknowledged: dict[str, dict] = {}  # idempotency key -> the ticket of the first 201
        self.answers: dict[str, list[str]] = {}  # key -> ids of every 201 answer for it
        self.documents: list[dict] = []
        self.failures: list[str] = []
        self.done = threading.Event()

    def body(self, n: int) -> dict:
        body = {"service": self.rng.choices(self.services, self.weights)[0]}
        if self.rng.random() < 0.15:
            body["priority"] = self.rng.choice(PRIORITIES)
        if self.rng.random() < 0.1:
            body["language"] = "qu"
        roll = self.rng.random()
        if roll < 0.2:
            body["document"] = {"type": "DNI", "number": f"4{n:07d}"}
        elif roll < 0.35:
            body["document"] = {"type": "PASAPORTE", "number": f"SOAKDOC{n:04d}"}
        return body

    def run(self):
        try:
            for n in range(1, self.total + 1):
                if self.stop.is_set():
                    return
                key = f"soak-kiosk-{n:05d}"
                body = self.body(n)
                if "document" in body:
                    self.documents.append(body["document"])
                while True:
                    response, _ = self.caller.send("POST", "/tickets", body, headers={"Idempotency-Key": key})
                    if response.status_code == 201:
                        ticket = response.json()
                        self.acknowledged.setdefault(key, ticket)
                        self.answers.setdefault(key, []).append(ticket["id"])
                        # Once in a while the kiosk's answer "got lost" on its side: it re-sends.
                        if self.rng.random() < 0.02 and len(self.answers[key]) == 1:
                            continue
                        break
                    self.failures.append(f"issue {key}: {response.status_code} {response.text[:200]}")
                    break
                self.issued = n
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.failures.append(f"kiosk crashed: {exc!r}")
        finally:
            self.done.set()


# --------------------------------------------------------------------------- counter clerks


class Clerk:
    """A defender at one counter: call next, then (by a seeded roll) recall, no-show, return to the
    queue, transfer before or after starting, or start and finish with notes and a case number.

    It keeps going until the kiosk has finished and nothing waits for its counter. After an outage
    it never guesses: a 409 after a retried request is checked against the ticket's state, and a
    call-next answered 409 ``counter_busy`` picks up the ticket its counter already holds.
    """

    def __init__(self, index: int, url: str, token: str, counter: str, services: list[str],
                 all_services: list[str], kiosk_done: threading.Event, stop: threading.Event):
        self.index = index
        self.caller = Caller(url, token, stop)
        self.counter = counter
        self.services = services
        self.all_services = all_services
        self.kiosk_done = kiosk_done
        self.stop = stop
        self.rng = random.Random(1000 + index)
        self.calls: list[str] = []  # ticket ids this counter was given (each call)
        self.done: dict[str, str] = {}  # ticket id -> final transition acknowledged here
        self.staff_issued: dict[str, dict] = {}  # idempotency key -> ticket (walk-ins registered at the counter)
        self.personal: list[str] = []  # names, notes and case numbers written here
        self.failures: list[str] = []
        self.cycles = 0
        self.recovered = 0  # lost answers found out by reading the state back

    # one transition, with the read-back after a lost answer
    def act(self, ticket: dict, action: str, target: str, body=None) -> dict | None:
        response, retried = self.caller.send("POST", f"/tickets/{ticket['id']}/{action}", body or {})
        if response.status_code == 200:
            return response.json()["ticket"]
        if response.status_code == 409 and retried:
            current, _ = self.caller.send("GET", f"/tickets/{ticket['id']}")
            now = current.json() if current.status_code == 200 else {}
            # A returned ticket may already have been called again by another counter.
            left = action == "return" and now.get("counter") != self.counter
            if now.get("status") == target or left:
                self.recovered += 1
                return now  # the first attempt went through; its answer was lost
        self.failures.append(f"{self.counter} {action} {ticket['code']}: {response.status_code} "
                             f"{response.text[:300]} (retried={retried})")
        return None

    def held_ticket(self) -> dict | None:
        response, _ = self.caller.send("GET", "/counters")
        for counter in response.json()["counters"]:
            if counter["id"] == self.counter:
                return counter["ticket"]
        return None

    def call_next(self):
        response, retried = self.caller.send("POST", f"/counters/{self.counter}/call-next")
        if response.status_code == 204:
            return None
        if response.status_code == 200:
            return response.json()["ticket"]
        code = response.json().get("error", {}).get("code") if response.status_code == 409 else None
        if code == "counter_busy":
            held = self.held_ticket()
            if held is not None:
                self.recovered += 1
                if not retried:
                    # Only a lost answer leaves a ticket in hand that this clerk does not know of.
                    self.failures.append(f"{self.counter}: counter_busy without a lost answer")
                return held
        self.failures.append(f"{self.counter} call-next: {response.status_code} {response.text[:300]}")
        return None

    def serve(self, ticket: dict):
        self.calls.append(ticket["id"])
        roll = self.rng.random()
        if ticket["status"] == "called":
            if roll < 0.03:
                response, _ = self.caller.send("POST", f"/counters/{self.counter}/recall")
                if response.status_code != 200:
                    self.failures.append(f"{self.counter} recall: {response.status_code} {response.text[:200]}")
                roll = self.rng.random()
            if roll < 0.06:
                if self.act(ticket, "no-show", "no_show"):
                    self.done[ticket["id"]] = "no_show"
                return
            if roll < 0.10:
                self.act(ticket, "return", "waiting")
                return
            if roll < 0.13:
                if self.act(ticket, "transfer", "transferred", {"service": self.other_service(ticket)}):
                    self.done[ticket["id"]] = "transferred"
                return
            ticket = self.act(ticket, "start", "serving") or ticket
            if ticket["status"] != "serving":
                return
            roll = self.rng.random()
        if roll < 0.06:
            notes = f"Nota reservada derivación {ticket['id'][:8]}"
            self.personal.append(notes)
            if self.act(ticket, "transfer", "transferred", {"service": self.other_service(ticket), "notes": notes}):
                self.done[ticket["id"]] = "transferred"
            return
        notes, case_ref = f"Nota reservada {ticket['id'][:8]}", f"EXP-SOAK-{ticket['id'][:8]}"
        self.personal += [notes, case_ref]
        body = {"outcome": self.rng.choice(("resolved", "resolved", "pending", "referred")), "notes": notes,
                "case_ref": case_ref}
        if ticket["service"] == "PEN":
            body["result"] = self.rng.choice(("PEN-01", "PEN-02"))
        if self.act(ticket, "finish", "done", body):
            self.done[ticket["id"]] = "done"

    def other_service(self, ticket: dict) -> str:
        return self.rng.choice([code for code in self.all_services if code != ticket["service"]])

    def register_walk_in(self):
        """Staff issue a ticket for a person at the counter, with a name (personal data)."""
        key = f"soak-staff-{self.index}-{self.cycles}"
        name = f"Persona Soak {self.index}-{self.cycles}"
        self.personal.append(name)
        body = {"service": self.rng.choice(self.services), "name": name,
                "document": {"type": "PASAPORTE", "number": f"SOAKDOC{self.index:02d}{self.cycles:04d}"}}
        response, _ = self.caller.send("POST", "/tickets", body, headers={"Idempotency-Key": key})
        if response.status_code == 201:
            self.staff_issued[key] = response.json()
        else:
            self.failures.append(f"{self.counter} walk-in: {response.status_code} {response.text[:200]}")

    def close_counter(self):
        response, _ = self.caller.send("POST", f"/counters/{self.counter}/close")
        if response.status_code != 200:
            self.failures.append(f"close {self.counter}: {response.status_code} {response.text[:200]}")

    def thread(self) -> threading.Thread:
        return threading.Thread(target=self.work, name=f"soak-clerk-{self.index}", daemon=True)

    def work(self):
        """Serve until the kiosk is done and three call-next in a row find nothing."""
        idle = 0
        try:
            while not self.stop.is_set():
                self.cycles += 1
                if self.index % 4 == 0 and self.cycles % 30 == 0 and not self.kiosk_done.is_set():
                    self.register_walk_in()
                ticket = self.call_next()
                if ticket is not None:
                    idle = 0
                    self.serve(ticket)
                else:
                    idle += 1
                    if self.kiosk_done.is_set() and idle >= 3:
                        return
                    time.sleep(0.15)
        except Exception as exc:  # noqa: BLE001
            self.failures.append(f"{self.counter} crashed: {exc!r}")


# --------------------------------------------------------------------------- hall displays


class Display:
    """A hall display over Socket.IO (python-socketio client, display token): it records every
    pushed event and, on (re)connect or on a gap in ``seq``, catches up from /api/v1/events as the
    real display page does."""

    def __init__(self, url: str, token: str, name: str, filtered: bool, transports=("websocket",)):
        self.url = url
        self.name = name
        self.filtered = filtered
        self.transports = list(transports)
        self.token = token
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.pushed: list[tuple[str, dict]] = []
        self.fetched: dict[int, dict] = {}
        self.seen: set[int] = set()
        self.connects = 0
        self.lock = threading.Lock()
        self.need = threading.Event()
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.client = socketio.Client(reconnection=True, reconnection_attempts=0, reconnection_delay=0.2,
                                      reconnection_delay_max=1.0, randomization_factor=0.0, handle_sigint=False)

        @self.client.event
        def connect():
            with self.lock:
                self.connects += 1
            self.need.set()

        @self.client.on("*")
        def any_event(event, *args):
            if event in ("connect", "disconnect", "connect_error"):
                return
            data = args[0] if args else None
            with self.lock:
                self.pushed.append((event, data))
                seq = data.get("seq") if isinstance(data, dict) else None
                if isinstance(seq, int):
                    if not self.filtered and seq > self.cursor() + 1:
                        self.need.set()  # a gap: fetch what was missed
                    self.seen.add(seq)

        self.catcher = threading.Thread(target=self._catch_up_loop, name=f"soak-{name}-catchup", daemon=True)

    def cursor(self) -> int:
        """Where to fetch from: the end of the unbroken run from seq 1 (a filtered display has
        gaps by design, so it goes on from the newest it has)."""
        if not self.seen:
            return 0
        if self.filtered:
            return max(self.seen)
        seq = self._contiguous = getattr(self, "_contiguous", 0)
        while seq + 1 in self.seen:
            seq += 1
        self._contiguous = seq
        return seq

    def caught_up_to(self) -> int:
        with self.lock:
            return self.cursor()

    def start(self) -> "Display":
        self.client.connect(self.url, auth={"token": self.token}, transports=self.transports, wait_timeout=15)
        self.catcher.start()
        return self

    def catch_up(self) -> int:
        got = 0
        while True:
            with self.lock:
                after = self.cursor()
            response = self.http.get(f"{self.url}/api/v1/events", params={"after": after, "limit": 1000},
                                     timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            events = response.json()["events"]
            with self.lock:
                for event in events:
                    self.fetched[event["seq"]] = event
                    self.seen.add(event["seq"])
            got += len(events)
            if len(events) < 1000:
                return got

    def _catch_up_loop(self):
        while not self.stopping.is_set():
            if not self.need.wait(0.5):
                continue
            self.need.clear()
            try:
                self.catch_up()
            except (requests.RequestException, ValueError):
                time.sleep(0.2)
                self.need.set()  # the box is restarting: try again

    def close(self):
        self.stopping.set()
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001
            pass
        self.catcher.join(timeout=5)

    def payloads(self) -> list:
        with self.lock:
            return [data for _, data in self.pushed] + list(self.fetched.values())

    def pushed_seqs(self) -> list[int]:
        with self.lock:
            return [data["seq"] for _, data in self.pushed if isinstance(data, dict) and "seq" in data]


def keys_anywhere(value, wanted: set[str]) -> Counter:
    """How often each of ``wanted`` appears as a key at any depth."""
    found = Counter()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key in wanted:
                    found[key] += 1
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
