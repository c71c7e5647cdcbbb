"""Stats for a 100,000-ticket month (target: <= 200 ms).

Generates a month straight into a real SQLite file (executemany, rows in time order like a box
writes them), then times ``turnero.stats.compute_stats`` for the whole month: with nothing kept
(memory cache and the kept days on disk cleared), with the finished days kept on disk (as after a
restart), and with the days in memory; and for a single day. Prints its figures; asserts nothing about time.

    .venv/bin/python bench/bench_stats.py [--tickets 100000] [--runs 15]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_month_common import FIRST, LAST, month_on_disk  # noqa: E402
from tests.conftest import LIMA, FakeClock  # noqa: E402
from turnero.clock import SedeClock  # noqa: E402
from turnero.engine import Engine  # noqa: E402
from turnero.stats import DAY_CACHE, compute_stats  # noqa: E402
from turnero.store import Store  # noqa: E402


def timed(engine, first, last, runs, cold=False, forget_disk=False):
    times = []
    for _ in range(runs):
        if cold:
            DAY_CACHE.clear()
        if forget_disk:
            with engine.store.write() as tx:
                tx.execute("DELETE FROM stats_days")
        start = time.perf_counter()
        compute_stats(engine, first, last)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, settings, store, truth, seconds = month_on_disk(tmp, args.tickets)
        print(f"generated {truth['tickets']} tickets ({truth['served']} attentions served) in {seconds:.1f} s")
        store.close()
        store = Store.in_data_dir(data_dir)  # a fresh connection, as a new request thread has
        engine = Engine(store, settings, SedeClock(settings.timezone, FakeClock(datetime(2026, 12, 2, tzinfo=LIMA))))
        cold = timed(engine, FIRST, LAST, args.runs, cold=True, forget_disk=True)
        restart = timed(engine, FIRST, LAST, args.runs, cold=True)
        month = timed(engine, FIRST, LAST, args.runs)
        day = timed(engine, "2026-11-10", "2026-11-10", args.runs, cold=True, forget_disk=True)
        for name, times in (("month, nothing kept", cold), ("month, days kept on disk", restart),
                            ("month, days in memory", month)):
            print(f"{name + ':':<27} median {statistics.median(times):.0f} ms, best {min(times):.0f} ms, "
                  f"worst {max(times):.0f} ms (first {times[0]:.0f} ms; target <= 200 ms)")
        print(f"{'one day, nothing kept:':<27} median {statistics.median(day):.1f} ms")
        print("(a running box keeps each finished day on disk when it closes, and warms last month at start,"
              " so 'days kept on disk' is what the first report of a month costs after a restart)")
        store.close()


if __name__ == "__main__":
    main()
