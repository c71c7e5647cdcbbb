"""Twenty boxes pushing their backlogs at once into one receiver, on SQLite and on PostgreSQL:
events/s and zero loss.

    .venv/bin/python bench/bench_sync_fanin.py [--boxes 20] [--events 5000] [--backend sqlite|postgresql|both]

Each box is its own process running the real agent; the receiver is ``turnero-central run``
(Gunicorn threads; two worker processes on PostgreSQL, one on SQLite, whose writers take turns).
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from bench_sync_common import central_on, check_central, make_box, push_box, template_events


def run(backend: str, boxes: int, events: int, work: Path, template: list) -> bool:
    with central_on(backend, work, "fanin.db") as central:
        if central is None:
            return True
        codes = [f"SEDE-{i:02d}" for i in range(1, boxes + 1)]
        tokens = {code: central.add_sede(code) for code in codes}
        central.start()
        dirs = {code: make_box(work / backend, code, central.url, tokens[code], events, template) for code in codes}
        started = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(boxes) as pool:
            results = pool.map(push_box, [str(path) for path in dirs.values()])
        wall = time.perf_counter() - started
        problems = check_central(central.database_url, dirs)
    total = sum(count for count, _ in results)
    slowest = max(seconds for _, seconds in results)
    verdict = "zero loss, none twice" if not problems else "PROBLEMS: " + "; ".join(problems)
    print(f"{backend}: {boxes} boxes x {events} events = {total} in {wall:.1f} s -> {total / wall:,.0f} events/s "
          f"(slowest box {slowest:.1f} s); {verdict}")
    return not problems and total == boxes * events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--events", type=int, default=5000, help="backlog per box")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-fanin-") as scratch:
        work = Path(scratch)
        template = template_events(work)
        for backend in backends:
            ok = run(backend, args.boxes, args.events, work, template) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
