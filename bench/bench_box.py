"""Benchmarks of the box over HTTP on loopback, against a real `turnero run` (Gunicorn, gevent).

Prints its figures; asserts nothing about time (the machines are shared and noisy).

    .venv/bin/python bench/bench_box.py [--seconds 30] [--quick] [--workers N]

1. latency: issue a ticket, and call next (sequential, keep-alive): median and p99;
2. throughput: 16 counters calling next + 2 kiosks issuing, concurrently (processes), for N s:
   transitions/s, duplicate calls, seq gaps;
3. fan-out: one call reaching 50 connected Socket.IO clients (held by 5 processes): p50/p99 delivery latency;
4. memory: server RSS (and PSS of master + worker + voice worker) after a 5,000-ticket day, 50 clients.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import SEDE_TOML, USERS, LiveBox, write_sede  # noqa: E402

COUNTERS = 16
BENCH_SEDE = SEDE_TOML.replace("[printer]", "".join(
    f'[[counters]]\nid = "b{i}"\nname = "Banco {i}"\nservices = ["ORI", "PEN"]\n\n' for i in range(COUNTERS))
    + '[[services]]\ncode = "FAN"\nprefix = "F"\nnames = { es = "Difusión" }\n\n'
    + '[[counters]]\nid = "fan"\nname = "Ventanilla F"\nservices = ["FAN"]\n\n[printer]').replace("[sede]", "[sede]\nsession_hours = 72")
CLERKS = {f"clerk{i}": "staff" for i in range(COUNTERS)}


def pct(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def fmt_ms(values):
    return f"median {statistics.median(values) * 1000:.2f} ms, p99 {pct(values, 0.99) * 1000:.2f} ms (n={len(values)})"


def start_box(root: Path, workers: int = 1) -> LiveBox:
    sede = BENCH_SEDE + (f"\n[server]\nworkers = {workers}\n" if workers > 1 else "")
    box = LiveBox(write_sede(root / "data", sede)).prepare(
        users={**USERS, **CLERKS}, devices=(("kiosco-1", "kiosk", []), ("kiosco-2", "kiosk", []),
                                            ("pantalla-1", "display", []))).start()
    # kiosks are rate limited per device (30/min by default); the bench issues as staff instead
    return box


def latency(box: LiveBox, n: int):
    http = requests.Session()
    headers = {"Authorization": f"Bearer {box.tokens['ana']}"}
    for _ in range(50):  # warm-up
        http.post(f"{box.url}/api/v1/tickets", json={"service": "PEN"}, headers=headers)
    issue, call = [], []
    for _ in range(n):
        started = time.perf_counter()
        response = http.post(f"{box.url}/api/v1/tickets", json={"service": "ORI"}, headers=headers)
        issue.append(time.perf_counter() - started)
        assert response.status_code == 201, response.text
    clerk = {"Authorization": f"Bearer {box.tokens['beto']}"}
    for _ in range(n):
        started = time.perf_counter()
        response = http.post(f"{box.url}/api/v1/counters/v2/call-next", headers=clerk)
        call.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        http.post(f"{box.url}/api/v1/tickets/{response.json()['ticket']['id']}/no-show", headers=clerk)
    print(f"issue ticket:   {fmt_ms(issue)}")
    print(f"call next:      {fmt_ms(call)}")


class _Http:
    """A bare keep-alive HTTP/1.1 client: load generators share the 2 cores with the server, so they
    must cost as little CPU per request as possible (requests costs about as much as the server)."""

    def __init__(self, url, token):
        import http.client
        from urllib.parse import urlparse

        parsed = urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path, body=b""):
        self.conn.request("POST", "/api/v1" + path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()


def _counter_worker(url, token, counter, seconds, out):
    import json

    http = _Http(url, token)
    deadline = time.time() + seconds
    called, transitions, errors = [], 0, 0
    while time.time() < deadline:
        status, body = http.post(f"/counters/{counter}/call-next")
        if status == 204:
            time.sleep(0.005)
            continue
        if status != 200:
            errors += 1
            continue
        ticket = json.loads(body)["ticket"]["id"]
        called.append(ticket)
        status, _ = http.post(f"/tickets/{ticket}/no-show")
        transitions += 1 + (status == 200)
        errors += status != 200
    out.put(("counter", called, transitions, errors))


def _kiosk_worker(url, token, seconds, out):
    http = _Http(url, token)
    deadline = time.time() + seconds
    issued, errors = 0, 0
    while time.time() < deadline:
        status, _ = http.post("/tickets", b'{"service": "ORI"}')
        if status == 201:
            issued += 1
        else:
            errors += 1
    out.put(("kiosk", [], issued, errors))


def throughput(box: LiveBox, seconds: int):
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_counter_worker, args=(box.url, box.tokens[f"clerk{i}"], f"b{i}",
                                                                   seconds, queue)) for i in range(COUNTERS)]
    procs += [multiprocessing.Process(target=_kiosk_worker, args=(box.url, box.tokens[name], seconds, queue))
              for name in ("sofia", "root")]
    before = box.call("GET", "/events?after=0&limit=1").json()["last_seq"]
    started = time.time()
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.time() - started
    called = [ticket for kind, tickets, _, _ in results for ticket in tickets]
    transitions = sum(count for _, _, count, _ in results)
    errors = sum(err for _, _, _, err in results)
    seqs, after = [], before
    while True:
        page = box.call("GET", f"/events?after={after}&limit=1000").json()["events"]
        if not page:
            break
        seqs += [event["seq"] for event in page]
        after = page[-1]["seq"]
    gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
    print(f"throughput:     {transitions / elapsed:.0f} transitions/s over {elapsed:.1f} s "
          f"({COUNTERS} counters + 2 kiosks, processes); duplicate calls: {len(called) - len(set(called))}; "
          f"seq gaps: {gaps}; errors: {errors}; events: {len(seqs)}")


SCREEN_PROCESSES = 5  # the screens are separate devices: 50 clients in one Python process measure its GIL


def _screen(url, token, measuring, stamps, stop):
    """One lean Socket.IO client (protocol 5 over Engine.IO 4, plain websocket): joins with the
    display's token, answers pings, and while ``measuring`` is set reports each ticket.called as
    (ticket id, perf_counter) (CLOCK_MONOTONIC, shared by processes). python-socketio's client
    starts a thread per message, and 10 of them in one process fell behind the server's pings."""
    import json

    import websocket

    # The credential on the handshake too, as the display page sends its device cookie: the box
    # keeps room for devices, and does not count them against their address's share.
    ws = websocket.create_connection(url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
                                     timeout=10, header=[f"Authorization: Bearer {token}"])
    assert ws.recv().startswith("0"), "no Engine.IO open packet"
    ws.send("40" + json.dumps({"token": token}))
    while not (answer := ws.recv()).startswith("40"):
        assert not answer.startswith("44"), answer
    ws.settimeout(0.5)
    stamps.put(("ready", 1))
    connected = 1
    while connected and not stop.is_set():
        try:
            message = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketException, OSError):
            connected = 0
            break
        if message == "2":
            ws.send("3")
        elif message in ("", "1", "41"):  # closed by the server
            connected = 0
        elif measuring.is_set() and message.startswith('42["ticket.called"'):
            # The hall's view of a ticket has its code, not its id (turnero/audiences.py).
            stamps.put((json.loads(message[2:])[1]["data"]["ticket"]["code"], time.perf_counter()))
    stamps.put(("connected", connected))
    ws.close()


def _screens(url, token, count, measuring, stamps, stop):
    threads = [threading.Thread(target=_screen, args=(url, token, measuring, stamps, stop)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def fanout(box: LiveBox, clients: int, calls: int):
    ctx = multiprocessing.get_context("fork")
    measuring, stop, stamps = ctx.Event(), ctx.Event(), ctx.Queue()
    shares = [clients // SCREEN_PROCESSES + (i < clients % SCREEN_PROCESSES) for i in range(SCREEN_PROCESSES)]
    procs = [ctx.Process(target=_screens, args=(box.url, box.tokens["pantalla-1"], n, measuring, stamps, stop))
             for n in shares if n]
    for proc in procs:
        proc.start()
    for _ in range(clients):
        assert stamps.get(timeout=120)[0] == "ready"
    http = requests.Session()
    headers = {"Authorization": f"Bearer {box.tokens['beto']}"}
    latencies = []
    measuring.set()
    for _ in range(calls):
        http.post(f"{box.url}/api/v1/tickets", json={"service": "FAN"}, headers=headers)
        started = time.perf_counter()
        response = http.post(f"{box.url}/api/v1/counters/fan/call-next", headers=headers)
        ticket, code = response.json()["ticket"]["id"], response.json()["ticket"]["code"]
        got, deadline = 0, time.time() + 5
        while got < clients and time.time() < deadline:
            try:
                received, stamp = stamps.get(timeout=max(0.01, deadline - time.time()))
            except Empty:
                break
            if received == code:
                got += 1
                latencies.append(stamp - started)
        http.post(f"{box.url}/api/v1/tickets/{ticket}/no-show", headers=headers)
    measuring.clear()
    expected = clients * calls
    print(f"fan-out:        call -> {clients} Socket.IO clients ({len(procs)} processes): {fmt_ms(latencies)}; "
          f"delivered {len(latencies)}/{expected}")
    return procs, stop, stamps


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pids(parent: int) -> list[int]:
    """Child processes of ``parent``, whichever of its threads started them."""
    return [int(pid) for task in Path(f"/proc/{parent}/task").iterdir()
            for pid in (task / "children").read_text().split()]


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared between processes (fork) are counted once overall."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory(box: LiveBox, screens, tickets: int, clients: int):
    http = requests.Session()
    headers = {"Authorization": f"Bearer {box.tokens['ana']}"}
    clerk = {"Authorization": f"Bearer {box.tokens['beto']}"}
    for index in range(tickets):
        http.post(f"{box.url}/api/v1/tickets", json={"service": "ORI" if index % 2 else "PEN"}, headers=headers)
    while True:
        response = http.post(f"{box.url}/api/v1/counters/v1/call-next", headers=clerk)
        if response.status_code != 200:
            break
        ticket = response.json()["ticket"]["id"]
        http.post(f"{box.url}/api/v1/tickets/{ticket}/start", headers=clerk)
        http.post(f"{box.url}/api/v1/tickets/{ticket}/finish", json={"outcome": "resolved"}, headers=clerk)
    master = box.process.pid
    workers = worker_pids(master)  # the web worker(s) and the device process
    helpers = [child for pid in workers for child in worker_pids(pid)]  # the voice worker process
    rss = {name: sum(rss_mb(pid) for pid in pids) for name, pids in
           (("workers", workers), ("master", [master]), ("helpers", helpers))}
    pss = sum(pss_mb(pid) for pid in [master, *workers, *helpers])
    procs, stop, stamps = screens
    stop.set()
    connected = 0
    for _ in range(clients):
        while (item := stamps.get(timeout=60))[0] != "connected":
            pass
        connected += item[1]
    for proc in procs:
        proc.join(timeout=30)
    print(f"memory:         web worker(s) + device process RSS {rss['workers']:.0f} MB (Gunicorn master {rss['master']:.0f} MB, voice worker "
          f"{rss['helpers']:.0f} MB more; whole server PSS {pss:.0f} MB) after a {tickets}-ticket day served, "
          f"{connected} Socket.IO clients connected")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--workers", type=int, default=1, help="[server] workers of the box")
    args = parser.parse_args()
    n, seconds, clients, tickets = (200, 5, 10, 500) if args.quick else (1000, args.seconds, 50, 5000)
    with tempfile.TemporaryDirectory() as root:
        box = start_box(Path(root), args.workers)
        print(f"box: {args.workers} web worker(s) and the device process")
        try:
            latency(box, n)
            throughput(box, seconds)
            box.call("POST", "/counters/v1/close", token_name="ana")
            screens = fanout(box, clients, 100 if not args.quick else 20)
            memory(box, screens, tickets, clients)
        finally:
            box.stop()


if __name__ == "__main__":
    main()
