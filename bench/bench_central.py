"""The central receiver at national scale: 100 sedes x 30 days loaded through its real HTTP API,
on SQLite and on PostgreSQL; ingest events/s and the national overview for a month and a year.

    .venv/bin/python bench/bench_central.py [--quick] [--sedes 100] [--days 30] [--backend sqlite|postgresql|both]

Events are real box events (a morning at a sede through the engine, bench_sync_common), about
590 per sede and day (~1 KB each), times spread over each day in Lima, waits drawn from 0-60 min.
Each sede pushes its days in order in batches of 500 (SPEC's maximum) with its services and time
zone, from a few client processes at once. The receiver is ``turnero-central run`` (Gunicorn
threads; two processes on PostgreSQL). Figures are printed, never asserted.

The year is simulated: after the 30 loaded days, the summary rows of those days are copied onto
the other 335 days of the year and the month rows summed again (raw events are not needed for
the overview), so the overview reads a full year of summaries.
"""
from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from bench_sync_common import ROOT, central_on, template_events

LIMA = ZoneInfo("America/Lima")
PER_DAY = 590
BATCH = 500
EPOCH = "5f0c2a1e-8b7d-4c3e-9a1f-0e2d4c6b8a90"
SERVICES = {"ORI": {"name": "Orientación legal", "target_wait_minutes": 20},
            "PEN": {"name": "Defensa penal", "target_wait_minutes": 45}}


def variants(template: list) -> list[tuple[str, list[str]]]:
    """Each template event as (type, data JSON texts); attentions get a spread of waits."""
    rng = random.Random(7)
    out = []
    for event_type, data in template:
        parsed = json.loads(data)
        if isinstance(parsed.get("attention"), dict):
            texts = []
            for _ in range(16):
                parsed["attention"]["wait_seconds"] = round(rng.uniform(0, 3600), 1)
                texts.append(json.dumps(parsed, ensure_ascii=False, separators=(",", ":")))
            out.append((event_type, texts))
        else:
            out.append((event_type, [data]))
    return out


def bodies(code: str, days: list[date], events: list) -> list[bytes]:
    """A sede's batches, seq from 1, day after day."""
    seq = 0
    pending: list[str] = []
    out = []
    step = 9 * 3600 / PER_DAY
    for day in days:
        opening = datetime(day.year, day.month, day.day, 8, 0, tzinfo=LIMA)
        for i in range(PER_DAY):
            seq += 1
            event_type, texts = events[i % len(events)]
            at = (opening + timedelta(seconds=i * step)).isoformat(timespec="milliseconds")
            pending.append(f'{{"seq":{seq},"id":"{code}-{seq}","type":"{event_type}","at":"{at}",'
                           f'"data":{texts[seq % len(texts)]}}}')
            if len(pending) == BATCH:
                out.append(pending)
                pending = []
    if pending:
        out.append(pending)
    about = json.dumps({"services": SERVICES, "timezone": "America/Lima"}, ensure_ascii=False)[1:-1]
    return [f'{{"sede":"{code}","epoch":"{EPOCH}","events":[{",".join(batch)}],{about}}}'.encode()
            for batch in out]


def push_sedes(job) -> int:
    url, tokens, days, events = job
    session = requests.Session()
    sent = 0
    for code, token in tokens.items():
        for body in bodies(code, days, events):
            answer = session.post(f"{url}/api/v1/sedes/{code}/events", data=body, timeout=120,
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            answer.raise_for_status()
            sent += body.count(b'"seq":')
    return sent


def timed_get(url: str, auth: dict, runs: int = 5) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        answer = requests.get(url, headers=auth, timeout=120)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        size = len(answer.content)
    return statistics.median(times), size


def simulate_year(database_url: str, loaded: list[date], last: date) -> int:
    """Copy the loaded days' summary rows onto the rest of a 365-day year; returns rows added."""
    from central.db import Database

    db = Database(database_url)
    rows = db.all("SELECT sede, day, dimension, key, issued, served, no_shows, cancelled, transferred, expired, "
                  "waits, service_times FROM daily")
    by_day: dict = {}
    for row in rows:
        by_day.setdefault(row[1], []).append(row)
    held = set(by_day)
    sources = sorted(held)
    copies = []
    for back in range(365):
        day = (last - timedelta(days=back)).isoformat()
        if day in held:
            continue
        for row in by_day[sources[back % len(sources)]]:
            copies.append((row[0], day, *row[2:]))
    from central.kpis import roll_up_months

    with db.transaction() as tx:
        tx.executemany("INSERT INTO daily (sede, day, dimension, key, issued, served, no_shows, cancelled, "
                       "transferred, expired, waits, service_times) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       copies)
        for (code,) in tx.all("SELECT code FROM sedes"):
            roll_up_months(tx, code)
    db.close()
    return len(copies)


def run(backend: str, sedes: int, days: int, clients: int, work: Path, events: list):
    with central_on(backend, work, "central.db") as central:
        if central is None:
            return
        url = central.database_url
        codes = [f"SEDE-{i:03d}" for i in range(1, sedes + 1)]
        tokens = {code: central.add_sede(code) for code in codes}
        viewer = subprocess.run([sys.executable, "-m", "central.cli", "viewer", "add", "bench", "--database-url", url],
                                capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
        auth = {"Authorization": "Basic " + base64.b64encode(f"bench:{viewer}".encode()).decode()}
        central.start()
        today = datetime.now(LIMA).date()
        loaded = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
        jobs = [(central.url, {c: tokens[c] for c in codes[i::clients]}, loaded, events) for i in range(clients)]
        started = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            total = sum(pool.map(push_sedes, jobs))
        wall = time.perf_counter() - started
        print(f"{backend}: ingest {sedes} sedes x {days} days = {total:,} events in {wall:.1f} s -> "
              f"{total / wall:,.0f} events/s ({clients} client processes, batches of {BATCH}; target >= 10,000/s)")
        month_from = loaded[0].isoformat()
        ms, size = timed_get(f"{central.url}/?from={month_from}&to={today}", auth)
        print(f"{backend}: national overview, {days} days ({month_from}..{today}) + today: {ms:.0f} ms median of 5 "
              f"({size // 1024} KiB page; target <= 300 ms for a month)")
        ms, _ = timed_get(f"{central.url}/sedes/{codes[0]}?from={month_from}&to={today}", auth)
        print(f"{backend}: one sede's page for the same period: {ms:.0f} ms")
        added = simulate_year(url, loaded, today)
        year_from = (today - timedelta(days=364)).isoformat()
        ms, size = timed_get(f"{central.url}/?from={year_from}&to={today}", auth)
        print(f"{backend}: national overview, a year ({year_from}..{today}; simulated: the {days} loaded days' "
              f"summaries copied onto the other {365 - days} days, {added:,} rows added): {ms:.0f} ms median of 5 "
              f"(target <= 1 s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 sedes x 7 days")
    parser.add_argument("--sedes", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--clients", type=int, default=3,
                        help="client processes pushing at once (they share the CPUs with the receiver)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    if args.quick:
        args.sedes, args.days = 10, 7
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="bench-central-") as scratch:
        work = Path(scratch)
        events = variants(template_events(work))
        for backend in backends:
            run(backend, args.sedes, args.days, args.clients, work, events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
