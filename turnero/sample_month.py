"""A synthetic month of tickets written straight into a sede's SQLite file (for the stats test and
benchmark). Rows go in with ``executemany``, not through the engine: 100,000 tickets take seconds.

Returns the ground truth computed in plain Python from the generated records, so a test can
check the SQL-based figures of :mod:`turnero.stats` against an independent count.

Besides the tickets and attentions, the month has what the reports' breakdowns read: languages
(the sede's, mostly Spanish), result codes from each service's catalog, survey answers, and each
counter's day (opened, a couple of pauses, closed) as events. Those come from a second random
stream, so the tickets' figures are the same as without them.
"""
from __future__ import annotations

import json
import random
import uuid
from datetime import date, datetime, time, timedelta

from turnero.store import Store

STATUS_MIX = (("done", 0.78), ("no_show", 0.08), ("cancelled", 0.05), ("transferred", 0.06), ("expired", 0.03))
PRIORITIES = ("gestante", "adulto_mayor", "discapacidad", "con_infante", "urgente")
SPANISH_SHARE = 0.85
RATED_SHARE = 0.1


def generate_month(store: Store, settings, first_day: date, days: int, tickets: int, seed: int = 7) -> dict:
    """Write ``tickets`` tickets (a transfer's second ticket included) over ``days`` days."""
    rng = random.Random(seed)
    extra = random.Random(seed + 1)  # the breakdowns' fields: the tickets' own stream stays as it was
    others = [language for language in settings.sede["languages"] if language != "es"]
    tz = settings.timezone
    services = list(settings.services.values())
    counters = list(settings.counters.values())
    staff_of = {counter.id: f"staff-{counter.id}" for counter in counters}
    ticket_rows, attention_rows = [], []
    truth = {"issued": 0, "served": 0, "no_shows": 0, "cancelled": 0, "transferred": 0, "expired": 0,
             "within": 0, "waits": [], "service": {}, "counter_served": {}, "languages": {}, "results": {},
             "ratings": 0, "paused_seconds": 0.0,
             "referred": 0, "transfer_attentions": 0}
    rating_rows = []
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
        language = extra.choice(others) if others and extra.random() > SPANISH_SHARE else "es"
        public_id = uuid.uuid4().hex[:12]
        ticket_rows.append((
            ticket_id, public_id, f"{service.prefix}-{numbers[key]:03d}", numbers[key], service.code,
            day, status, priority, "kiosk", language, issued_at, issued_at, called, started, finished,
            counter.id if at_counter else None, staff_of[counter.id] if at_counter else None, transferred_from))
        entry = truth["service"].setdefault(service.code, {"issued": 0, "served": 0, "no_shows": 0, "cancelled": 0,
                                                           "transferred": 0, "waits": []})
        if transferred_from is None:
            truth["languages"][language] = truth["languages"].get(language, 0) + 1
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
            codes = list(service.result_codes)
            result = extra.choice(codes) if codes and status == "done" and extra.random() < 0.9 else None
            attention_rows.append((ticket_id, service.code, counter.id, staff_of[counter.id], priority, issued_at,
                                   called, started, finished, wait, (finished - started) if started else None,
                                   outcome, result))
            if status == "transferred":
                truth["transfer_attentions"] += 1
            elif outcome == "referred":
                truth["referred"] += 1
            if result is not None:
                truth["results"][result] = truth["results"].get(result, 0) + 1
            if status == "done" and extra.random() < RATED_SHARE:
                rating_rows.append((public_id, ticket_id, service.code, day, extra.randint(1, 5),
                                    finished + extra.uniform(30, 600)))
                truth["ratings"] += 1
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
    event_rows = _counter_days(extra, settings, counters, staff_of, first_day, days, truth)
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
            " ended_at, wait_seconds, service_seconds, outcome, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attention_rows)
        tx.conn.executemany("INSERT INTO ratings (public_id, ticket_id, service, service_day, score, rated_at)"
                            " VALUES (?, ?, ?, ?, ?, ?)", sorted(rating_rows, key=lambda row: row[5]))
        tx.conn.executemany("INSERT INTO events (id, type, at, data) VALUES (?, ?, ?, ?)", event_rows)
    truth["tickets"] = len(ticket_rows)
    return truth


def _counter_days(rng, settings, counters, staff_of, first_day: date, days: int, truth: dict) -> list:
    """Each counter's day as the engine records it: opened at 8:00, two pauses, closed at 17:30."""
    rows = []
    for offset in range(days):
        opening = datetime.combine(first_day + timedelta(days=offset), time(8, 0), settings.timezone).timestamp()
        for counter in counters:
            staff = staff_of[counter.id]
            marks = [(opening, "counter.opened", "open")]
            for start in sorted(rng.uniform(3600, 8 * 3600) for _ in range(2)):
                length = rng.uniform(300, 1200)
                if opening + start > marks[-1][0]:
                    marks += [(opening + start, "counter.paused", "paused"),
                              (opening + start + length, "counter.resumed", "open")]
                    truth["paused_seconds"] += length
            marks.append((opening + 9.5 * 3600, "counter.closed", "closed"))
            for at, event_type, state in marks:
                data = {"counter": {"id": counter.id, "state": state, "staff": None if state == "closed" else staff}}
                rows.append((str(uuid.uuid4()), event_type, at, json.dumps(data, separators=(",", ":"))))
    rows.sort(key=lambda row: row[2])
    return rows
