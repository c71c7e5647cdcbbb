"""A week of backlog from one box to the receiver on loopback: 100,000 events (target <= 60 s).

    .venv/bin/python bench/bench_sync_backlog.py [--events 100000] [--postgresql]

The box's events are built from a real morning at a sede (through the engine), copied up to the
count with fresh ids; the push is the real agent (batches of 500, acked_seq), the receiver the
real ``turnero-central run`` (Gunicorn) on SQLite, or on a throwaway PostgreSQL server.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench_sync_common import CentralProcess, check_central, make_box, push_box, template_events

TARGET_SECONDS = 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as scratch:
        work = Path(scratch)
        pg = None
        if args.postgresql:
            from central.pgtemp import TempPostgres, unavailable_reason

            if unavailable_reason():
                print(f"PostgreSQL unavailable: {unavailable_reason()}")
                return 1
            pg = TempPostgres(durable=True).start()
            url = pg.url
        else:
            url = f"sqlite:///{work / 'central.db'}"
        central = CentralProcess(url)
        try:
            token = central.add_sede("BENCH-01")
            central.start()
            data_dir = make_box(work, "BENCH-01", central.url, token, args.events, template_events(work))
            count, seconds = push_box(str(data_dir))
            problems = check_central(url, {"BENCH-01": data_dir})
        finally:
            central.stop()
            if pg:
                pg.stop()
    backend = "postgresql" if args.postgresql else "sqlite"
    print(f"backlog {args.events} events -> receiver ({backend}): {seconds:.1f} s, "
          f"{count / seconds:,.0f} events/s, acknowledged {count}, target <= {TARGET_SECONDS} s: "
          f"{'met' if seconds <= TARGET_SECONDS else 'MISSED'}")
    print("zero loss, none twice" if not problems else "PROBLEMS: " + "; ".join(problems))
    return 0 if not problems and count == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
