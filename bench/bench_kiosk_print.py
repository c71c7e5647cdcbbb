"""Benchmark: kiosk request -> last ticket byte on the printer socket (target: median <= 50 ms).

Starts a real ``turnero run`` server on 127.0.0.1 whose [printer] is a python-escpos network
printer pointing at a capturing TCP endpoint that answers status queries like a healthy printer.
Each round POSTs /api/v1/tickets as the kiosk and waits for the slip's last byte. Bounded: 40
rounds, each waits at most 10 s.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import SEDE_TOML, LiveBox, write_sede  # noqa: E402
from escpos_capture import CaptureServer  # noqa: E402

ROUNDS = 40


def main() -> None:
    capture = CaptureServer("online")
    with tempfile.TemporaryDirectory() as tmp:
        text = SEDE_TOML.replace('[printer]\ntype = "none"', f'[printer]\ntype = "network"\nhost = "127.0.0.1"\n'
                                 f'port = {capture.port}\ntimeout_seconds = 2')
        box = LiveBox(write_sede(Path(tmp) / "data", text),
                      env={"TURNERO_KIOSK_RATE_PER_MINUTE": "6000"}).prepare().start()
        try:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {box.tokens['kiosco-1']}"
            latencies, answers = [], []
            for round_number in range(ROUNDS + 3):
                done_before = len(capture.jobs)
                start = time.perf_counter()
                response = session.post(box.url + "/api/v1/tickets", json={"service": "ORI"}, timeout=10)
                answered = time.perf_counter()
                response.raise_for_status()
                code = response.json()["code"].encode()
                deadline = time.time() + 10
                while time.time() < deadline:
                    jobs = capture.jobs[done_before:]
                    hits = [i for i, job in enumerate(jobs) if code in job]
                    if hits:
                        last_byte = capture.job_last_byte[done_before + hits[0]]
                        break
                    time.sleep(0.0005)
                else:
                    raise SystemExit(f"ticket {code!r} never reached the printer")
                if round_number >= 3:  # warm-up: first connections, imports, caches
                    latencies.append((last_byte - start) * 1000)
                    answers.append((answered - start) * 1000)
        finally:
            box.stop()
            capture.close()
    latencies.sort()
    print(f"rounds: {len(latencies)}")
    print(f"kiosk POST answered:           median {statistics.median(answers):.1f} ms")
    print(f"request -> last printer byte:  median {statistics.median(latencies):.1f} ms, "
          f"p90 {latencies[int(len(latencies) * 0.9) - 1]:.1f} ms, max {latencies[-1]:.1f} ms (target median <= 50 ms)")


if __name__ == "__main__":
    main()
