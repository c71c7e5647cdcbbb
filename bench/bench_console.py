"""Console action -> updated waiting list on another console (target: p99 <= 100 ms).

A real ``turnero run`` on 127.0.0.1. Console A (ana, Ventanilla 1) calls next and returns the
ticket to the queue, over and over. Console B (beto, Ventanilla 2, same service) does what the
console page does: on every Socket.IO event it refetches ``/api/v1/queue`` (one fetch at a time,
one more if events came meanwhile). Measured: from A sending the action to B holding a waiting
list that reflects it (the called ticket gone, the returned one back). Prints its figures.

    .venv/bin/python bench/bench_console.py [--actions 300]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import LiveBox, write_sede  # noqa: E402


class ConsoleB:
    """Refetches the waiting list after each event, like counter/static/console.js."""

    def __init__(self, box: LiveBox):
        self.url = box.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {box.tokens['beto']}"
        self.dirty = threading.Event()
        self.changed = threading.Condition()
        self.snapshot = (0.0, set())
        self.stopped = False
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, data: self.dirty.set())
        self.client.connect(box.url, auth={"token": box.tokens["beto"]}, transports=["websocket"], wait_timeout=10)
        threading.Thread(target=self._refresher, daemon=True).start()

    def _refresher(self):
        while not self.stopped:
            if not self.dirty.wait(0.5):
                continue
            self.dirty.clear()
            tickets = self.http.get(f"{self.url}/api/v1/queue?service=ORI", timeout=10).json()["tickets"]
            with self.changed:
                self.snapshot = (time.perf_counter(), {ticket["id"] for ticket in tickets})
                self.changed.notify_all()

    def wait_for(self, predicate, timeout=5.0) -> float | None:
        deadline = time.time() + timeout
        with self.changed:
            while not predicate(self.snapshot[1]):
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.changed.wait(left)
            return self.snapshot[0]

    def stop(self):
        self.stopped = True
        self.client.disconnect()


def fmt(values):
    values = sorted(values)
    p99 = values[max(0, int(len(values) * 0.99 + 0.999999) - 1)]
    return (f"p50 {statistics.median(values) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {values[-1] * 1000:.1f} ms (n={len(values)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        box = LiveBox(write_sede(Path(tmp) / "data")).prepare().start()
        try:
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {box.tokens['ana']}"
            for _ in range(5):
                http.post(f"{box.url}/api/v1/tickets", json={"service": "ORI"}, timeout=10).raise_for_status()
            http.post(f"{box.url}/api/v1/counters/v1/open", timeout=10).raise_for_status()
            console = ConsoleB(box)
            console.dirty.set()
            assert console.wait_for(lambda ids: len(ids) == 5), "console B never saw the queue"
            calls, returns, missed = [], [], 0
            deadline = time.time() + 120
            while len(calls) + len(returns) < args.actions and time.time() < deadline:
                started = time.perf_counter()
                ticket = http.post(f"{box.url}/api/v1/counters/v1/call-next", timeout=10).json()["ticket"]["id"]
                seen = console.wait_for(lambda ids: ticket not in ids)
                if seen is None:
                    missed += 1
                else:
                    calls.append(seen - started)
                started = time.perf_counter()
                http.post(f"{box.url}/api/v1/tickets/{ticket}/return", timeout=10).raise_for_status()
                seen = console.wait_for(lambda ids: ticket in ids)
                if seen is None:
                    missed += 1
                else:
                    returns.append(seen - started)
            console.stop()
            print(f"call-next on A -> B's list without it: {fmt(calls)}")
            print(f"return on A    -> B's list with it:    {fmt(returns)}")
            print(f"all actions:                           {fmt(calls + returns)}  (target p99 <= 100 ms); "
                  f"missed: {missed}")
        finally:
            box.stop()


if __name__ == "__main__":
    main()
