"""A synthetic month of tickets written straight into a sede's SQLite file (for the stats test and
benchmark). Rows go in with ``executemany``, not through the engine: 100,000 tickets take seconds.

Returns the ground truth computed in plain Python from the generated records, so a test can
check the SQL-based figures of :mod:`turnero.stats` against an independent count.
"""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta

from turnero.store import Store

STATUS_MIX = (("done", 0.78), ("no_show", 0.08), ("cancelled", 0.05), ("transferred", 0.06), ("expired", 0.03))
PRIORITIES = ("gestante", "adulto_mayor", "discapacidad", "con_infante", "urgente")


def generate_month(store: Store, settings, first_day: date, days: int, tickets: int, seed: int = 7) -> dict:
    """Write ``tickets`` tickets (a transfer's second ticket included) over ``days`` days."""
    rng = random.Random(seed)
    tz = settings.timezone
    services = list(settings.services.values())
    counters = list(settings.counters.values())
    staff_of = {counter.id: f"staff-{counter.id}" for counter in counters}
    ticket_rows, attention_rows = [], []
    truth = {"issued": 0, "served": 0, "no_shows": 0, "cancelled": 0, "transferred": 0, "expired": 0,
             "within": 0, "waits": [], "service": {}, "counter_served": {}}
    numbers: dict = {}

    def add_ticket(service, day, status, priority, issued_at, transferred_from=None):
        key = (service.code, day)
        numbers[key] = numbers.get(key, 0) + 1 if transferred_from is None else numbers.get(key, 1)
        ticket_id = str(uuid.uuid4())
        counter = rng.choice([c for c in counters if service.code in c.services] or counters)
        called = issued_at + rng.uniform(60, 3600) if status in ("done", "no_show", "transferred") else None
        started = called + rng.uniform(10, 120) if called and status != "no_show" else None
        ended = started + rng.uniform(120, 1800) if started else None
        finished = ended or called or (issued_at + rng.uniform(60, 3600) if status != "waiting" else None)
        at_counter = called is not None or (status == "cancelled" and rng.random() < 0.3)
        if status == "cancelled" and at_counter and called is None:
            called = finished - 1
        ticket_rows.append((
            ticket_id, uuid.uuid4().hex[:12], f"{service.prefix}-{numbers[key]:03d}", numbers[key], service.code,
            day, status, priority, "kiosk", "es", issued_at, issued_at, called, started, finished,
            counter.id if at_counter else None, staff_of[counter.id] if at_counter else None, transferred_from))
        entry = truth["service"].setdefault(service.code, {"issued": 0, "served": 0, "no_shows": 0, "cancelled": 0,
                                                           "transferred": 0, "waits": []})
        if transferred_from is None:
            truth["issued"] += 1
            entry["issued"] += 1
        if status in ("cancelled", "transferred", "expired"):
            truth[status] += 1
            if status != "expired":
                entry[status] += 1
        if status in ("done", "no_show") or (status == "transferred" and started):
            outcome = {"done": rng.choice(("resolved", "pending", "referred")), "no_show": "no_show"}.get(
                status, "referred")
            wait = called - issued_at
            attention_rows.append((ticket_id, service.code, counter.id, staff_of[counter.id], priority, issued_at,
                                   called, started, finished, wait, (finished - started) if started else None,
                                   outcome))
            if outcome == "no_show":
                truth["no_shows"] += 1
                entry["no_shows"] += 1
            else:
                truth["served"] += 1
                entry["served"] += 1
                entry["waits"].append(wait)
                truth["waits"].append(wait)
                truth["within"] += wait <= service.target_wait_minutes * 60
                truth["counter_served"][counter.id] = truth["counter_served"].get(counter.id, 0) + 1
        return ticket_id

    weights = [share for _, share in STATUS_MIX]
    states = [state for state, _ in STATUS_MIX]
    made = 0
    while made < tickets:
        day_date = first_day + timedelta(days=rng.randrange(days))
        opening = datetime.combine(day_date, time(8, 0), tz).timestamp()
        issued_at = opening + rng.uniform(0, 9 * 3600)
        service = rng.choice(services)
        status = rng.choices(states, weights)[0]
        priority = rng.choice(PRIORITIES) if rng.random() < 0.2 else None
        first_id = add_ticket(service, day_date.isoformat(), status, priority, issued_at)
        made += 1
        if status == "transferred" and made < tickets and len(services) > 1:
            other = rng.choice([s for s in services if s.code != service.code])
            add_ticket(other, day_date.isoformat(), "done", priority, issued_at, transferred_from=first_id)
            made += 1
    # A box appends rows as time goes by; keep that order so the file looks like a real one.
    ticket_rows.sort(key=lambda row: row[10])
    attention_rows.sort(key=lambda row: row[8])
    with store.write() as tx:
        tx.conn.executemany(
            "INSERT INTO tickets (id, public_id, code, number, service, service_day, status, priority, channel,"
            " language, issued_at, queued_at, called_at, started_at, finished_at, counter, staff, transferred_from)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ticket_rows)
        tx.conn.executemany(
            "INSERT INTO attentions (ticket_id, service, counter, staff, priority, issued_at, called_at, started_at,"
            " ended_at, wait_seconds, service_seconds, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attention_rows)
    truth["tickets"] = len(ticket_rows)
    return truth
