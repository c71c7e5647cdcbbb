"""A month of plausible past activity for the demo sede, played through the engine.

Unlike :mod:`turnero.sample_month` (rows written straight into SQLite for the stats benchmark),
every ticket here goes through :class:`Engine` on a clock set to the simulated moment, so each
transition leaves its event and audit row: the reports, the supervisor, the forecaster and the
sync to a central see exactly what a real sede would have produced. No personal data: tickets
carry no names or documents, appointments only a code.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from config import PRIORITY_CLASSES
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.errors import DomainError

# Share of arrivals per service, per language and per preferential class (the rest: no class).
SERVICE_MIX = {"ORI": 0.46, "PEN": 0.20, "CON": 0.20, "VIC": 0.06, "PSI": 0.08}
LANGUAGE_MIX = {"es": 0.88, "qu": 0.07, "ay": 0.02, "shp": 0.01, "en": 0.02}
PREFERENTIAL_SHARE = 0.18
OUTCOME_MIX = {"resolved": 0.66, "pending": 0.24, "referred": 0.10}
NO_SHOW_SHARE = 0.07
TRANSFER_SHARE = 0.06
LEAVE_SHARE = 0.02  # people who give up and whose ticket staff cancel
RATING_SHARE = 0.3
APPOINTMENT_SHARE = 0.08
COMMENTS = ("Muy buena atención.", "Me explicaron todo con paciencia.", "La espera fue larga.", None, None)
PAUSES = (("Almuerzo", 13 * 3600, 45 * 60), ("Reunión de coordinación", 10 * 3600 + 1800, 20 * 60))
# Where a ticket is sent when the first service is not the right one.
TRANSFERS = {"ORI": ("PEN", "CON", "PSI"), "PEN": ("ORI",), "CON": ("ORI",), "PSI": ("VIC",)}
OPENING, LAST_ARRIVAL = 8 * 3600, 16 * 3600 + 1800


@dataclass
class _Counter:
    id: str
    staff: str
    services: tuple
    idle: bool = False
    pauses: list = field(default_factory=list)


def working_days(today: date, days: int) -> list[date]:
    """Monday to Friday among the ``days`` calendar days before ``today``, oldest first."""
    span = (today - timedelta(days=offset) for offset in range(days, 0, -1))
    return [day for day in span if day.weekday() < 5]


def write_history(store, settings, staff_of: dict, days: int = 30, seed: int = 2026, progress=None,
                  today: date | None = None) -> dict:
    """Play ``days`` calendar days before ``today`` (working days only) through the engine.

    ``staff_of`` maps each counter id to the username who works it. ``progress(done, total,
    "history")`` is told after each day. Returns what was written (tickets, days)."""
    rng = random.Random(seed)
    moment = [0.0]
    clock = SedeClock(settings.timezone, lambda: moment[0])
    engine = Engine(store, settings, clock)
    today = today or SedeClock(settings.timezone).local().date()
    conn = store.connect()
    # Thousands of commits in a row: waiting for the disk after each one would take minutes, and a
    # power cut halfway through a fresh demo loses nothing anyone cares about. Back to FULL after.
    conn.execute("PRAGMA synchronous=OFF")
    counted = {"tickets": 0, "days": 0}
    try:
        history = working_days(today, days)
        for number, day in enumerate(history, 1):
            counted["tickets"] += _play_day(engine, settings, staff_of, day, rng, moment)
            counted["days"] += 1
            if progress is not None:
                progress(number, len(history), "history")
    finally:
        conn.execute("PRAGMA synchronous=FULL")
    return counted


def _weighted(rng, mix: dict):
    return rng.choices(list(mix), list(mix.values()))[0]


def _play_day(engine: Engine, settings, staff_of: dict, day: date, rng, moment) -> int:
    """One service day as a discrete-event simulation: a heap of (time, order, action, argument)."""
    midnight = datetime.combine(day, time(0, 0), settings.timezone).timestamp()
    busy_factor = 1.15 if day.weekday() == 0 else 1.0  # Mondays bring the weekend's problems
    arrivals = sorted(rng.triangular(OPENING, LAST_ARRIVAL, OPENING + 2 * 3600)
                      for _ in range(int(rng.randint(40, 80) * busy_factor)))
    services = [code for code in SERVICE_MIX if code in settings.services]
    counters = {cid: _Counter(cid, staff_of[cid], tuple(c.services),
                              pauses=[p for p in PAUSES if p[0] == "Almuerzo" or rng.random() < 0.3])
                for cid, c in settings.counters.items() if cid in staff_of}
    heap, order = [], iter(range(10 ** 9))

    def at(seconds: float, action: str, argument=None):
        heapq.heappush(heap, (seconds, next(order), action, argument))

    def wake(service: str, now: float):
        for counter in counters.values():
            if counter.idle and service in counter.services:
                counter.idle = False
                at(now + rng.uniform(5, 40), "free", counter)

    for counter in counters.values():
        at(midnight + OPENING + rng.uniform(-600, 600), "open", counter)
    for arrival in arrivals:
        at(midnight + arrival, "arrive", _weighted(rng, {code: SERVICE_MIX[code] for code in services}))
    issued = 0
    while heap:
        now, _, action, argument = heapq.heappop(heap)
        moment[0] = now
        if action == "open":
            engine.open_counter(argument.id, argument.staff)
            at(now + 1, "free", argument)
        elif action == "arrive":
            issued += _arrive(engine, argument, day, rng, now, at)
            wake(argument, now)
        elif action == "free":
            _free(engine, argument, midnight, rng, now, at)
        elif action == "resume":
            engine.resume_counter(argument.id, argument.staff)
            at(now + 1, "free", argument)
        elif action == "start":
            ticket = argument  # the called ticket, as call_next returned it
            engine.start(ticket["id"], ticket["staff"])
            # Attentions run a little under the planned minutes (which are set with a margin).
            minutes = settings.services[ticket["service"]].service_minutes * rng.lognormvariate(-0.35, 0.35)
            at(now + minutes * 60, "end", ticket)
        elif action == "no_show":
            engine.no_show(argument["id"], argument["staff"])
            at(now + rng.uniform(10, 40), "free", counters[argument["counter"]])
        elif action == "end":
            ticket, counter = argument, counters[argument["counter"]]
            targets = [code for code in TRANSFERS.get(ticket["service"], ()) if code in settings.services]
            if targets and not ticket["transferred_from"] and rng.random() < TRANSFER_SHARE:
                new = engine.transfer(ticket["id"], rng.choice(targets), counter.staff,
                                      notes="Derivado internamente")
                wake(new["service"], now)
            else:
                catalog = list(settings.services[ticket["service"]].result_codes)
                engine.finish(ticket["id"], counter.staff, _weighted(rng, OUTCOME_MIX),
                              result=rng.choice(catalog) if catalog else None)
                if rng.random() < RATING_SHARE:
                    at(now + rng.uniform(30, 600), "rate", ticket["public_id"])
            at(now + rng.uniform(10, 60), "free", counter)
        elif action == "rate":
            score = rng.choices((5, 4, 3, 2, 1), (45, 30, 13, 7, 5))[0]
            engine.rate(argument, score, rng.choice(COMMENTS))
        elif action == "leave":
            try:
                engine.cancel(argument, "supervisor", reason="Se retiró")
            except DomainError:
                pass  # called meanwhile: the person stayed after all
        if not heap:
            # Everyone went home: close the counters and expire anything left, as the evening does.
            moment[0] = now + 600
            for counter in counters.values():
                engine.close_counter(counter.id, counter.staff)
            engine.close_day(day.isoformat())
    return issued


def _arrive(engine: Engine, service: str, day: date, rng, now: float, at) -> int:
    appointment = None
    if engine.settings.services[service].appointments and rng.random() < APPOINTMENT_SHARE:
        # Booked at the central days before; the person checks in at the kiosk with its code.
        appointment = f"CITA-{day:%m%d}-{now % 86400:05.0f}"  # unique: one arrival per second at most
        engine.upsert_appointment({"id": appointment, "service": service, "status": "booked",
                                   "starts_at": engine.clock.rfc3339(now + rng.uniform(300, 1200))})
    priority = rng.choice(PRIORITY_CLASSES) if rng.random() < PREFERENTIAL_SHARE else None
    try:
        ticket, _ = engine.issue(None if appointment else service, priority=priority,
                                 language=_weighted(rng, LANGUAGE_MIX), appointment=appointment,
                                 channel="staff" if rng.random() < 0.12 else "kiosk")
    except DomainError:
        return 0  # a daily cap reached: the kiosk says so and nothing is issued
    if rng.random() < LEAVE_SHARE:
        at(now + rng.uniform(900, 3600), "leave", ticket["id"])
    return 1


def _free(engine: Engine, counter: _Counter, midnight: float, rng, now: float, at) -> None:
    """A counter with nothing in hand: take its pause if due, else call the next person."""
    if counter.pauses and now >= midnight + counter.pauses[0][1]:
        reason, _, minutes = counter.pauses.pop(0)
        engine.pause_counter(counter.id, counter.staff, reason)
        at(now + minutes * rng.uniform(0.8, 1.3), "resume", counter)
        return
    ticket = engine.call_next(counter.id, counter.staff)
    if ticket is None:
        counter.idle = True
    elif rng.random() < NO_SHOW_SHARE:
        at(now + rng.uniform(120, 240), "no_show", ticket)
    else:
        at(now + rng.uniform(20, 90), "start", ticket)


def appointments_left_today(engine: Engine) -> list[str]:
    """Codes of today's booked appointments nobody has checked in yet (the demo banner prints them)."""
    start, end = engine.clock.day_bounds(engine.clock.local().date())
    rows = engine.store.read("SELECT id FROM appointments WHERE status = 'booked' AND ticket_id IS NULL"
                             " AND starts_at >= ? AND starts_at < ? ORDER BY starts_at", (start, end))
    return [row["id"] for row in rows]
