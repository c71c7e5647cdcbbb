"""Capacity of the demo sede as `make demo` ships it, against the floor of a durable insert over HTTP.

    .venv/bin/python bench/bench_capacity.py [--quick] [--viewers N] [--slow N]

1. floor: one durable SQLite insert per request (bench/floor_app.py), Gunicorn gevent like the box;
   then the queue engine alone in that shell (bench/engine_floor_app.py): the engine's share of
   the distance from the floor to the box, the rest being the box's web layer;
2. the demo sede (emulated printer, voice on), idle: issue a ticket, call next, against the floor;
3. under load, N status pages (each watching a ticket in the queue being called, which is thus
   N longer) and M slow clients (a request sent a byte at a time): the same again, /healthz,
   whether displays and consoles still connect, how many slow clients the box cut off;
4. fan-out: one call reaching 45 displays and 5 staff consoles, the status pages still connected;
5. memory: PSS of the whole server, everything connected.

Prints its figures; asserts nothing about time (the machines are shared and noisy). All on
loopback, one bare client timing the floor and the box; Socket.IO and slow clients come from
many 127.0.0.x addresses, PER_ADDRESS each, as phones in a hall: the box caps per address.
"""
from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from queue import Empty
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_box import _Http, fmt_ms, pct, pss_mb, worker_pids  # noqa: E402
from config import load_settings  # noqa: E402
from tests.conftest import LiveBox, free_port  # noqa: E402
from turnero.demo import DEMO_DEVICES_FILE, DEMO_USERS, prepare_demo  # noqa: E402

PER_ADDRESS = 15  # under the box's default max_connections_per_address (20)
HOLDER_PROCESSES = 5
ISSUE = b'{"service": "ORI"}'
CALL_COUNTER = "v2"  # serves ORI, the queue the status pages wait in
FAN_ISSUE, FAN_COUNTER = b'{"service": "PSI"}', "consultorio-1"  # a queue of its own: one call, one ticket
DISPLAYS, CONSOLES = 45, 5
TRICKLE_SECONDS = 2.0  # well inside any per-read timeout: only a deadline for the whole request cuts it
SLOW_WATCH_SECONDS = 20.0  # the default header and body deadlines (10 s), with room for the trickle
LABEL = 28


class _Client(_Http):
    """bench_box's bare keep-alive client, for any method and path (the floor's too). It reconnects
    when the server closed the idle connection, as the box does after its header deadline."""

    def __init__(self, url, token=None):
        super().__init__(url, token)
        if token is None:
            del self.headers["Authorization"]

    def send(self, method, path, body=b""):
        for retry in (False, True):
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except ConnectionError:  # RemoteDisconnected included
                self.conn.close()
                if retry:
                    raise

    def timed(self, method, path, body=b""):
        started = time.perf_counter()
        status, data = self.send(method, path, body)
        return time.perf_counter() - started, status, data


def loopback_addresses():
    """Source addresses from 127.0.0.2 on, each handed out PER_ADDRESS times."""
    for n in itertools.count():
        yield from [f"127.0.{n // 253}.{n % 253 + 2}"] * PER_ADDRESS


def take(addresses, count: int) -> list[str]:
    return list(itertools.islice(addresses, count))


def line(label: str, text: str):
    print(f"{label + ':':<{LABEL}}{text}", flush=True)


def times_x(values, floor) -> str:
    return f"{statistics.median(values) / statistics.median(floor):.1f}x the floor's median"


def errors_of(statuses) -> str:
    return f"; unexpected answers {dict(Counter(statuses))}" if statuses else ""


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class _Gunicorn:
    """One of the bench's reference apps under Gunicorn's gevent worker, as the box is served."""

    def __init__(self, root: Path, app: str, env: dict):
        self.port, self.root = free_port(), root
        self.log = open(root / "reference.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{self.port}",
             "--keep-alive", "10", "--no-control-socket", app],
            cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=self.log, start_new_session=True)

    def __enter__(self) -> str:
        deadline = time.time() + 30
        while not listening(self.port):
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"reference app did not start: {(self.root / 'reference.log').read_text()[-2000:]}")
            time.sleep(0.1)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_exc):
        os.killpg(self.process.pid, 15)
        self.process.wait(timeout=15)
        self.log.close()


def run_floor(root: Path, n: int) -> list[float]:
    with _Gunicorn(root, "bench.floor_app:app", {"FLOOR_DB": str(root / "floor.db")}) as url:
        client = _Client(url)
        for _ in range(50):  # warm-up: the worker's connection and table are made on the first
            client.send("POST", "/insert")
        timed = [client.timed("POST", "/insert") for _ in range(n)]
        bad = [status for _, status, _ in timed if status != 201]
        line("floor insert", fmt_ms([seconds for seconds, _, _ in timed]) + errors_of(bad))
        return [seconds for seconds, _, _ in timed]


def run_engine_alone(root: Path, n: int, floor: list):
    """The engine's share: bench/engine_floor_app.py on a demo sede of its own."""
    data_dir = root / "engine-alone"
    prepare_demo(data_dir, "127.0.0.1", free_port())
    with _Gunicorn(root, "bench.engine_floor_app:app", {"ENGINE_DATA_DIR": str(data_dir)}) as url:
        issue_and_call(url, {}, 20, prefix="")  # warm-up; also opens the counter
        issue_and_call(url, {}, n, floor, "engine alone", prefix="")


def issue_and_call(url: str, tokens: dict, n: int, floor: list | None = None, when: str = "",
                   prefix: str = "/api/v1"):
    """n tickets issued, then n called at CALL_COUNTER (each then a no-show, untimed), one after
    the other; prints both against the floor unless it is a warm-up."""
    issuer, clerk = _Client(url, tokens.get("defensor1")), _Client(url, tokens.get("defensor2"))
    issue, call, bad = [], [], []
    for _ in range(n):
        seconds, status, _ = issuer.timed("POST", f"{prefix}/tickets", ISSUE)
        issue.append(seconds)
        bad += [status] if status != 201 else []
    for _ in range(n):
        seconds, status, data = clerk.timed("POST", f"{prefix}/counters/{CALL_COUNTER}/call-next")
        call.append(seconds)
        if status == 200:
            clerk.send("POST", f"{prefix}/tickets/{json.loads(data)['ticket']['id']}/no-show")
        else:
            bad.append(status)
    if floor is not None:
        line(f"issue ticket, {when}", f"{fmt_ms(issue)}; {times_x(issue, floor)}")
        line(f"call next, {when}", f"{fmt_ms(call)}; {times_x(call, floor)}{errors_of(bad)}")


def healthz(url: str, count: int = 10):
    """A fresh connection each time, as a monitor probes."""
    client, timed = _Client(url), []
    for _ in range(count):
        timed.append(client.timed("GET", "/healthz")[:2])
        client.conn.close()
    line("healthz", f"status {dict(Counter(status for _, status in timed))}; {fmt_ms([t for t, _ in timed])}")


def _join(url: str, client):
    """One lean Socket.IO client (as bench_box._screen) from its own source address. ``client``:
    (address, the CONNECT packet's auth, a bearer token for the handshake or None). Raises when
    the box refuses it, at the handshake (429, 503) or at CONNECT."""
    import websocket

    address, auth, bearer = client
    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10, source_address=(address, 0))
    # A real display or console carries its credential on the handshake (a cookie); the box
    # admits those even when the share for anonymous pages is full.
    ws = websocket.create_connection(f"ws://{parsed.netloc}/socket.io/?EIO=4&transport=websocket", timeout=10,
                                     socket=sock, header=[f"Authorization: Bearer {bearer}"] if bearer else [])
    if not ws.recv().startswith("0"):
        raise websocket.WebSocketException("no Engine.IO open packet")
    ws.send("40" + json.dumps(auth))
    while not (answer := ws.recv()).startswith("40"):
        if answer.startswith("44"):
            ws.close()
            raise websocket.WebSocketException(f"CONNECT refused: {answer}")
    return ws


def _hold(url, clients, measuring, stop, out):
    """Connect ``clients``, then hold them in one selector loop: answer the server's pings and,
    while ``measuring`` is set, report each ticket.called as (code, perf_counter), CLOCK_MONOTONIC
    being shared by processes. One loop instead of a thread per socket: 200 threads in a process
    cost more CPU than the sockets, and the clients share the 2 cores with the server."""
    import websocket

    selector = selectors.DefaultSelector()
    refusals = []
    for client in clients:
        try:
            ws = _join(url, client)
        except (OSError, websocket.WebSocketException) as error:
            refusals.append(f"{type(error).__name__}: {error}"[:200])
            continue
        selector.register(ws.sock, selectors.EVENT_READ, ws)
    out.put(("ready", len(clients) - len(refusals), refusals[:1]))
    while selector.get_map() and not stop.is_set():
        for key, _ in selector.select(timeout=0.5):
            ws = key.data
            try:
                message = ws.recv()
                if message == "2":
                    ws.send("3")
            except (OSError, websocket.WebSocketException):
                message = ""
            if message in ("", "1", "41"):  # closed by the server
                selector.unregister(key.fileobj)
                ws.close()
            elif measuring.is_set() and message.startswith('42["ticket.called"'):
                # Displays get the hall's view of a ticket, which has its code but not its id.
                out.put((json.loads(message[2:])[1]["data"]["ticket"]["code"], time.perf_counter()))
    out.put(("held", len(selector.get_map())))
    for key in list(selector.get_map().values()):
        key.data.close()


class Clients:
    """Client processes, forked (they start at once), each told to stop by one event and
    reporting through one queue."""

    def __init__(self, target, args_per_process: list):
        ctx = multiprocessing.get_context("fork")
        self.stop, self.out = ctx.Event(), ctx.Queue()
        self.procs = [ctx.Process(target=target, args=(*args, self.stop, self.out), daemon=True)
                      for args in args_per_process]
        for proc in self.procs:
            proc.start()

    def next(self, kind: str, timeout: float = 300):
        while (item := self.out.get(timeout=timeout))[0] != kind:
            pass  # a ticket.called stamp that came too late to count
        return item[1:]

    def close(self):
        self.stop.set()
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():  # stuck: no leftovers all the same
                proc.terminate()
        self.procs = []


class Holders(Clients):
    """Socket.IO clients spread over a few processes: the devices of a hall are separate machines,
    and one Python process for them all would measure its own GIL."""

    def __init__(self, url: str, clients: list, processes: int = HOLDER_PROCESSES):
        self.measuring = multiprocessing.get_context("fork").Event()
        started = time.perf_counter()
        super().__init__(_hold, [(url, clients[i::processes], self.measuring)
                                 for i in range(min(processes, len(clients)))])
        ready = [self.next("ready") for _ in self.procs]
        self.seconds = time.perf_counter() - started
        self.total, self.connected = len(clients), sum(count for count, _ in ready)
        self.refusal = next((refusals[0] for _, refusals in ready if refusals), None)

    def summary(self) -> str:
        refused = f"; first refusal: {self.refusal}" if self.refusal else ""
        return f"{self.connected}/{self.total} connected in {self.seconds:.1f} s{refused}"

    def close(self) -> int | None:
        """Disconnect them all; returns how many were still connected (None if a holder hung)."""
        self.stop.set()
        try:
            held = sum(self.next("held", 30)[0] for _ in self.procs)
        except Empty:
            held = None
        super().close()
        return held


def _slow(url, token, addresses, stop, out):
    """Clients that never finish their request: the even ones stop in their headers, the odd ones
    in a body of 1,000 bytes they announced (with a staff token, so that every layer reads it).
    Each sends one more byte every TRICKLE_SECONDS. Reports, by kind, how long each one the box
    let go (closed, reset, or answered) had been held, and the status codes answered."""
    parsed = urlparse(url)
    head = b"POST /api/v1/tickets HTTP/1.1\r\nHost: box\r\n"
    starts = {"headers": head + b"X-Slow: ",
              "body": head + (f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                              "Content-Length: 1000\r\n\r\n[").encode()}
    selector = selectors.DefaultSelector()
    for index, address in enumerate(addresses):
        kind = ("headers", "body")[index % 2]
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10, source_address=(address, 0))
        sock.sendall(starts[kind])
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, (kind, time.monotonic()))
    out.put(("opened",))
    cut, answers = {"headers": [], "body": []}, Counter()
    sent = Counter(key.data[0] for key in selector.get_map().values())
    next_byte = time.monotonic() + TRICKLE_SECONDS
    while selector.get_map() and not stop.is_set():
        gone = {key.fileobj: key for key, _ in selector.select(timeout=min(0.5, next_byte - time.monotonic()))}
        if time.monotonic() >= next_byte:
            next_byte += TRICKLE_SECONDS
            for key in list(selector.get_map().values()):
                try:
                    if key.fileobj not in gone:
                        key.fileobj.send(b" " if key.data[0] == "body" else b"x")
                except OSError:
                    gone[key.fileobj] = key
        for sock, key in gone.items():
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/"):
                answers[data.split(b" ", 2)[1].decode()] += 1
            cut[key.data[0]].append(time.monotonic() - key.data[1])
            selector.unregister(sock)
            sock.close()
    out.put(("slow", cut, sent, dict(answers), len(selector.get_map())))
    for key in list(selector.get_map().values()):
        key.fileobj.close()


class SlowClients(Clients):
    """The slow clients, in a process of their own."""

    def __init__(self, url: str, token: str, addresses: list[str]):
        super().__init__(_slow, [(url, token, addresses)])
        self.next("opened", 60)
        self.started, self.watch = time.monotonic(), SLOW_WATCH_SECONDS if addresses else 0

    def report(self):
        """Once they have had time to be cut: how many of each kind the box cut off, and when."""
        time.sleep(max(0.0, self.started + self.watch - time.monotonic()))
        self.stop.set()
        cut, sent, answers, still_open = self.next("slow", 60)
        kinds = "; ".join(f"{kind} {len(times)}/{sent[kind]}" + (
            f" after median {statistics.median(times):.1f} s, max {max(times):.1f} s" if times else "")
            for kind, times in cut.items())
        line("slow clients cut off", f"{kinds}; answered {answers or 'nothing'}; {still_open} still open "
                                     f"after {time.monotonic() - self.started:.0f} s")


def devices(addresses, display: str, displays: int, staff: str, consoles: int) -> list:
    """The sede's own screens and consoles: their token in the CONNECT packet and on the handshake."""
    return [(address, {"token": token}, token) for token, count in ((display, displays), (staff, consoles))
            for address in take(addresses, count)]


def fanout(url: str, staff: str, display: str, addresses, calls: int) -> Holders:
    holders = Holders(url, devices(addresses, display, DISPLAYS, staff, CONSOLES))
    line("fan-out clients", f"{DISPLAYS} displays + {CONSOLES} staff consoles: {holders.summary()}")
    client = _Client(url, staff)
    latencies = []
    holders.measuring.set()
    for _ in range(calls):
        client.send("POST", "/api/v1/tickets", FAN_ISSUE)
        started = time.perf_counter()
        status, data = client.send("POST", f"/api/v1/counters/{FAN_COUNTER}/call-next")
        if status != 200:
            line("fan-out", f"call-next answered {status}: {data[:200]!r}")
            break
        ticket = json.loads(data)["ticket"]
        got, deadline = 0, time.time() + 5
        while got < holders.connected and time.time() < deadline:
            try:
                code, stamp = holders.out.get(timeout=max(0.01, deadline - time.time()))
            except Empty:
                break
            if code == ticket["code"]:
                got += 1
                latencies.append(stamp - started)
        client.send("POST", f"/api/v1/tickets/{ticket['id']}/no-show")
    holders.measuring.clear()
    if latencies:
        line("fan-out", f"call -> {holders.connected} clients: p50 {statistics.median(latencies) * 1000:.1f} ms, "
                        f"p99 {pct(latencies, 0.99) * 1000:.1f} ms; delivered {len(latencies)}/"
                        f"{holders.connected * calls}")
    return holders


def descendants(pid: int) -> list[int]:
    try:
        children = worker_pids(pid)
    except OSError:  # a slip preview that ended meanwhile
        return []
    return children + [grandchild for child in children for grandchild in descendants(child)]


def server_memory(box: LiveBox) -> str:
    """PSS of the Gunicorn master and all its descendants, by program: the worker, the devices
    process and its voice worker, and any slip preview being rendered at that moment."""
    master, parts = box.process.pid, Counter()
    for pid in [master, *descendants(master)]:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            name = ("master" if pid == master else "devices" if comm == "turnero-devices"
                    else args[args.index("-m") + 1] if "-m" in args else Path(args[1]).stem)
            parts[{"turnero.cli": "worker"}.get(name, name)] += pss_mb(pid)
        except (OSError, IndexError):
            pass
    return f"whole server PSS {sum(parts.values()):.0f} MB (" + ", ".join(
        f"{name} {mb:.0f}" for name, mb in parts.items()) + ")"


def demo_box(root: Path, long_lived: int) -> LiveBox:
    """The demo sede as `turnero demo` writes it (not started), with max_connections raised only if
    this run's long-lived connections would not fit the share not reserved for devices."""
    data_dir, port = root / "demo", free_port()
    prepare_demo(data_dir, "127.0.0.1", port)
    server = load_settings(data_dir).server
    if long_lived > server["max_connections"] - server["reserved_connections"]:
        wanted = long_lived + server["reserved_connections"] + 100
        with open(data_dir / "sede.toml", "a", encoding="utf-8") as fh:
            fh.write(f"\n[server]\nmax_connections = {wanted}\n")
        line("settings", f"[server] max_connections = {wanted}")
    return LiveBox(data_dir, port=port)


def login(url: str, username: str) -> str:
    password = next(secret for user, _, secret in DEMO_USERS if user == username)
    status, data = _Client(url).send("POST", "/api/v1/auth/login",
                                     json.dumps({"username": username, "password": password}).encode())
    if status != 200:
        raise RuntimeError(f"login {username}: {status} {data[:200]!r}")
    return json.loads(data)["token"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--viewers", type=int, help="status pages held open (default 1000, quick 100)")
    parser.add_argument("--slow", type=int, help="slow clients (default 200, quick 20)")
    args = parser.parse_args()
    n, viewers, slow, calls = (100, 100, 20, 20) if args.quick else (500, 1000, 200, 100)
    viewers = viewers if args.viewers is None else args.viewers
    slow = slow if args.slow is None else args.slow
    print(f"capacity on {os.cpu_count()} cores: a durable-insert Flask floor, then the demo sede (emulated "
          f"printer, voice on), both Gunicorn gevent x1; n={n} sequential keep-alive requests; under load "
          f"{viewers} status pages and {slow} slow clients; fan-out to {DISPLAYS} displays + {CONSOLES} consoles",
          flush=True)
    # (a slip preview may still be drawn into the spool as the box stops)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        floor = run_floor(root, n)
        run_engine_alone(root, n, floor)
        box = demo_box(root, viewers + DISPLAYS + CONSOLES + 5)
        held = []
        try:
            url = box.start().url
            tokens = {name: login(url, name) for name in ("defensor1", "defensor2")}
            staff = tokens["defensor1"]
            display = json.loads((box.data_dir / DEMO_DEVICES_FILE).read_text())["pantalla-demo"]
            issue_and_call(url, tokens, 20)  # warm-up; also opens the counter
            issue_and_call(url, tokens, n, floor, "idle")

            issuer = _Client(url, staff)
            public_ids = [json.loads(data)["public_id"] for status, data in
                          (issuer.send("POST", "/api/v1/tickets", ISSUE) for _ in range(viewers)) if status == 201]
            addresses = loopback_addresses()
            sources = take(addresses, len(public_ids))
            pages = Holders(url, [(address, {"public_id": public_id}, None)
                                  for address, public_id in zip(sources, public_ids)])
            held.append(pages)
            line("status pages", f"{pages.summary()} (from {len(set(sources))} addresses)")
            slow_clients = SlowClients(url, staff, take(addresses, slow))
            held.append(slow_clients)
            issue_and_call(url, tokens, n, floor, "loaded")
            healthz(url)
            checked = Holders(url, devices(addresses, display, 3, staff, 2), processes=1)
            line("device sockets", f"3 displays + 2 staff consoles: {checked.summary()}")
            checked.close()

            screens = fanout(url, staff, display, addresses, calls)
            held.append(screens)
            line("memory", f"{server_memory(box)}; {pages.connected} status pages + {screens.connected} "
                           "devices connected")
            slow_clients.report()
            line("status pages at end", f"{pages.close()}/{pages.connected} still connected")
        finally:
            for each in held:
                each.close()
            box.stop()


if __name__ == "__main__":
    main()
