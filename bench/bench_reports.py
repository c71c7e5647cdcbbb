"""The whole reports page for a 100,000-ticket month (target: <= 300 ms).

Generates a month straight into a real SQLite file (turnero.sample_month: languages, outcomes,
result codes, survey answers, counters' pauses), then times a supervisor's ``GET /reports?from=..&to=..``
through the Flask test client: the KPIs and breakdowns, the staffing suggestion and the rendering
of charts and tables, as the browser gets them. Cold: nothing kept (memory cache and the days kept
on disk cleared); after a restart: the finished days kept on disk; warm: the days in memory.
Beside them, the floor: the same test client's GET of a route that reads the month's attentions
once in SQLite (a covering index) and returns a number; no report can cost less on this machine.
Prints median and p90; asserts nothing about time.

    .venv/bin/python bench/bench_reports.py [--tickets 100000] [--runs 9]
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
from flask import Flask  # noqa: E402

from bench_month_common import FIRST, LAST, month_on_disk  # noqa: E402
from tests.conftest import LIMA, FakeClock, add_users_fast  # noqa: E402
from turnero.stats import DAY_CACHE, percentile  # noqa: E402
from turnero.web.app import create_app  # noqa: E402

TARGET_MS = 300


def timed(client, path: str, runs: int, before=None) -> list[float]:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def floor_client(database: Path):
    """A bare Flask route over the same file: one pass over the month's attentions."""
    import sqlite3

    app = Flask("floor")
    conn = sqlite3.connect(database, check_same_thread=False)
    start, end = (datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=LIMA).timestamp() for day in (FIRST, LAST))

    @app.get("/floor")
    def floor():
        count, total = conn.execute(
            "SELECT COUNT(*), TOTAL(wait_seconds) FROM attentions INDEXED BY attentions_report"
            " WHERE ended_at >= ? AND ended_at < ?", (start, end + 86400)).fetchone()
        return f"{count} {total}"

    return app.test_client()


def line(name: str, times: list[float], floor: list[float] | None = None) -> None:
    ordered = sorted(times)
    text = (f"{name + ':':<32} median {statistics.median(ordered):6.0f} ms, p90 {percentile(ordered, 0.9):6.0f} ms, "
            f"best {ordered[0]:6.0f} ms")
    if floor:
        text += f"  ({statistics.median(ordered) / statistics.median(floor):.1f}x the floor)"
    print(text + (f"  [target <= {TARGET_MS} ms]" if floor else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, _, store, truth, seconds = month_on_disk(tmp, args.tickets)
        token = add_users_fast(store, {"sofia": "supervisor"})["sofia"]
        database = store.path
        store.close()
        print(f"generated {truth['tickets']} tickets ({truth['served']} served, {truth['ratings']} survey answers)"
              f" in {seconds:.1f} s")
        clock = FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=LIMA))
        app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False,
                          "TESTING": True})
        box = app.extensions["turnero"]
        client = app.test_client()
        with client.session_transaction() as session:
            session["token"] = token
        path = f"/reports?from={FIRST}&to={LAST}"

        def forget_all():
            DAY_CACHE.clear()
            with box.store.write() as tx:
                tx.execute("DELETE FROM stats_days")

        floor = timed(floor_client(database), "/floor", args.runs * 3)
        cold = timed(client, path, args.runs, forget_all)
        restart = timed(client, path, args.runs, DAY_CACHE.clear)
        warm = timed(client, path, args.runs)
        line("floor (Flask + one SQLite pass)", floor)
        line("page, nothing kept", cold, floor)
        line("page, days kept on disk", restart, floor)
        line("page, days in memory", warm, floor)
        print("(a running box keeps each finished day on disk when it closes, so 'days kept on disk' is what the"
              " first report of a month costs after a restart; 'nothing kept' happens once, after an upgrade)")
        box.stop()
        box.store.close()


if __name__ == "__main__":
    main()
