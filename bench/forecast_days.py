"""Simulated days through the engine with a settable clock, for bench_forecast.py.

A day: the sede opens at 08:00, people arrive (Poisson) until 16:00, 10–25 % of them
preferential (the share drawn per day); counters call the next ticket as soon as they are free,
the person walks up (0.2–1 min), the attention lasts a log-normal time (mean 12 min), and the
counters work until nobody waits. Every ticket's estimate at issue is kept beside its real wait,
for three estimators: the forecast (turnero.eta), the moving average it replaced ("today"), and a
reference forecaster that knows the true service-time distribution and arrival rates.
"""
from __future__ import annotations

import heapq
import json
import math
import random
import statistics
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from config import load_settings
from tests.conftest import LIMA, FakeClock, write_sede
from turnero import forecast, ordering, wait_history
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.eta import Estimator
from turnero.store import Store

OPEN_HOUR, LAST_ARRIVAL_HOUR = 8, 16
MEAN_SERVICE_MINUTES = 12.0
SIGMA = 0.6  # log-normal spread of the attentions (coefficient of variation about 0.66)
WALK_UP = (0.2, 1.0)  # minutes from the call to the start of the attention
PREFERENTIAL = ("gestante", "adulto_mayor", "discapacidad", "con_infante")

SEDE = """
[sede]
code = "BENCH-01"
name = "Sede simulada"
timezone = "America/Lima"
public_base_url = "http://turnero.test"
languages = ["es"]
{streak}

[[services]]
code = "ORI"
prefix = "A"
names = {{ es = "Orientación legal" }}
service_minutes = 15

[[services]]
code = "PEN"
prefix = "B"
names = {{ es = "Defensa penal" }}
service_minutes = 15

{counters}

[printer]
type = "none"
"""


class Scenario:
    def __init__(self, name, rate, counters, shares=(("ORI", 1.0),), streak=0):
        self.name = name
        self.rate = rate  # arrivals per hour
        self.counters = counters  # [(id, [services])]
        self.shares = shares  # [(service, share of arrivals)]
        self.streak = streak


def sede_text(scenario: Scenario) -> str:
    counters = "\n".join(f'[[counters]]\nid = "{cid}"\nname = "Ventanilla {cid}"\nservices = {json.dumps(codes)}\n'
                         for cid, codes in scenario.counters)
    streak = f"preferential_streak = {scenario.streak}" if scenario.streak else ""
    return SEDE.format(counters=counters, streak=streak)


def true_occupation(rng) -> float:
    """Seconds a counter is taken by one ticket: walk-up plus a log-normal attention."""
    mu = math.log(MEAN_SERVICE_MINUTES * 60) - SIGMA ** 2 / 2
    return rng.uniform(*WALK_UP) * 60 + rng.lognormvariate(mu, SIGMA)


class Oracle(Estimator):
    """The same forecaster, told the truth: the real service-time distribution and arrival rates."""

    def __init__(self, settings, clock, scenario, share_preferential):
        super().__init__(settings, clock)
        rng = random.Random(99)
        draws = sorted(true_occupation(rng) for _ in range(20000))
        exact = [draws[int((i + 0.5) * len(draws) / wait_history.POOL_SIZE)] for i in range(wait_history.POOL_SIZE)]
        pools = {code: [exact] * 24 for code in settings.services}
        rates = {}
        for code, share in scenario.shares:
            hourly = [scenario.rate * share if OPEN_HOUR <= h < LAST_ARRIVAL_HOUR else 0.0 for h in range(24)]
            rates[(code, forecast.TIER_PREFERENTIAL)] = [r * share_preferential for r in hourly]
            rates[(code, forecast.TIER_NORMAL)] = [r * (1 - share_preferential) for r in hourly]
        self.truth = wait_history.History(version=("truth",), pools=pools, rates=rates, show_share=1.0, gap=0.0,
                                          mean_seconds={})

    def _history_for(self, conn, now):
        return self.truth


def moving_average_minutes(conn, settings, service: str, position: int) -> int | None:
    """The estimate before the forecast (turnero/eta.py as it was): the last 20 attentions'
    mean service time over the open counters, times the tickets ahead, rounded up."""
    if not any(service in counter.services for counter in settings.counters.values()):
        return None
    open_count = sum(1 for row in conn.execute("SELECT services FROM counter_state WHERE state = 'open'")
                     if service in json.loads(row["services"] or "[]"))
    recent = conn.execute("SELECT service_seconds FROM attentions WHERE service = ? AND service_seconds "
                          "IS NOT NULL ORDER BY ended_at DESC LIMIT 20", (service,)).fetchall()
    average = sum(r[0] for r in recent) / len(recent) if recent else settings.services[service].service_minutes * 60
    return math.ceil((position - 1) * average / max(open_count, 1) / 60)


def simulate(scenario: Scenario, seed: int, days: int, warmup_days: int = 1) -> list[dict]:
    """Tickets of the measured days: {"real", "forecast": (low, median, high), "today", "oracle": (...)}."""
    rng = random.Random(seed)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_sede(Path(tmp) / "data", sede_text(scenario))
        settings = load_settings(data_dir, {})
        start = datetime(2026, 3, 2, OPEN_HOUR, tzinfo=LIMA)  # a Monday
        clock = FakeClock(start)
        store = Store.in_data_dir(data_dir)
        sede_clock = SedeClock(settings.timezone, clock)
        engine = Engine(store, settings, sede_clock)
        for day in range(days):
            clock.set(start + timedelta(days=day))
            share = rng.uniform(0.10, 0.25)
            oracle = Oracle(settings, sede_clock, scenario, share)
            measured = day >= warmup_days
            records += _day(engine, oracle, scenario, rng, clock, share, measured)
        store.close()
    return records


def _day(engine, oracle, scenario, rng, clock, share, measured) -> list[dict]:
    staff = {cid: f"clerk-{cid}" for cid, _ in scenario.counters}
    for cid, _ in scenario.counters:
        engine.open_counter(cid, staff[cid])
    day_start = clock.value
    events = []  # (time, order, kind, payload)
    order = 0
    t = day_start
    while True:
        t += rng.expovariate(scenario.rate / 3600)
        if t >= day_start + (LAST_ARRIVAL_HOUR - OPEN_HOUR) * 3600:
            break
        pick = rng.random()
        service = next((code for code, cut in _cumulative(scenario.shares) if pick < cut), scenario.shares[-1][0])
        priority = rng.choice(PREFERENTIAL) if rng.random() < share else None
        heapq.heappush(events, (t, order, "arrive", (service, priority)))
        order += 1
    idle = {cid for cid, _ in scenario.counters}
    served_by = dict(scenario.counters)
    issued: dict = {}
    records = []

    def call(cid):
        nonlocal order
        ticket = engine.call_next(cid, staff[cid])
        if ticket is None:
            idle.add(cid)
            return
        idle.discard(cid)
        if ticket["id"] in issued:
            record = issued.pop(ticket["id"])
            record["real"] = (clock.value - record["issued"]) / 60
            if record["measured"]:
                records.append(record)
        walk = rng.uniform(*WALK_UP) * 60
        mu = math.log(MEAN_SERVICE_MINUTES * 60) - SIGMA ** 2 / 2
        heapq.heappush(events, (clock.value + walk, order, "start", (cid, ticket["id"])))
        heapq.heappush(events, (clock.value + walk + rng.lognormvariate(mu, SIGMA), order + 1, "finish",
                                (cid, ticket["id"])))
        order += 2

    while events:
        at, _, kind, payload = heapq.heappop(events)
        clock.value = at
        if kind == "arrive":
            service, priority = payload
            conn = engine.store.connect()
            ticket, _ = engine.issue(service, priority=priority, channel="staff")
            row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket["id"],)).fetchone()
            place = ordering.position(conn, row, engine.settings.services[service], at)
            quick = oracle.ticket(conn, row)
            issued[ticket["id"]] = {
                "issued": at, "service": service, "priority": priority, "measured": measured,
                "forecast": _triple(ticket), "today": moving_average_minutes(conn, engine.settings, service, place),
                "oracle": (quick["low"], quick["minutes"], quick["high"]) if quick else None,
            }
            for cid in sorted(idle):
                if service in served_by[cid]:
                    call(cid)
                    break
        elif kind == "start":
            engine.start(payload[1], staff[payload[0]])
        else:
            engine.finish(payload[1], staff[payload[0]], "resolved")
            call(payload[0])
    for cid, _ in scenario.counters:
        engine.close_counter(cid, staff[cid])
    return records


def _cumulative(shares):
    total = 0.0
    for code, share in shares:
        total += share
        yield code, total


def _triple(ticket):
    if ticket["eta_range_minutes"] is None:
        return None
    return ticket["eta_range_minutes"]["low"], ticket["eta_minutes"], ticket["eta_range_minutes"]["high"]


def figures(records: list[dict]) -> dict:
    """Hit rate, range coverage, width ratio and bias of each estimator over these tickets."""
    out = {"tickets": len(records)}
    for name in ("forecast", "oracle", "today"):
        points, hits, inside, widths, errors, long_errors = 0, 0, 0, [], [], []
        for record in records:
            value = record[name]
            if value is None:
                continue
            real = record["real"]
            low, middle, high = value if isinstance(value, tuple) else (None, value, None)
            points += 1
            hits += abs(middle - real) <= max(0.2 * real, 2.0)
            errors.append(middle - real)
            if real >= 5:
                long_errors.append(middle - real)
            if low is not None:
                inside += low <= round(real) <= high
                if real >= 10 and middle > 0:
                    widths.append((high - low) / middle)
        out[name] = {
            "hit": hits / points if points else None,
            "coverage": inside / points if points and name != "today" else None,
            "width": statistics.median(widths) if widths else None,
            "bias": statistics.median(errors) if errors else None,
            "bias_5": statistics.median(long_errors) if long_errors else None,
        }
    return out
