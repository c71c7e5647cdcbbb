"""A staffing suggestion per weekday and hour, for the reports: how many counters would have served
the arrivals of that slot (their average over the period's days of that weekday the sede opened)
within the services' target wait, for the share the sede aims at (``[reports] within_target_goal``).

Erlang C (M/M/c): Poisson arrivals at the slot's average rate, the services' mean occupation times
from the forecaster's history, and the strictest target wait among the services that had arrivals
in the slot; counters are assumed to serve every service. A planning figure: the supervisor's
"¿y si…?" forecasts today's actual queue with the counters as they are.
"""
from __future__ import annotations

import math
from datetime import date

DEFAULT_GOAL = 0.8
MAX_COUNTERS = 60


def erlang_c(servers: int, load: float) -> float:
    """The probability that an arrival waits, with ``servers`` counters and ``load`` Erlangs (< servers)."""
    blocking = 1.0
    for k in range(1, servers + 1):  # Erlang B, by its stable recursion
        blocking = load * blocking / (k + load * blocking)
    return blocking / (1 - load / servers * (1 - blocking))


def counters_needed(rate_per_hour: float, mean_seconds: float, target_seconds: float, goal: float) -> int:
    """The fewest counters for which at least ``goal`` of the arrivals wait ``target_seconds`` or less."""
    if rate_per_hour <= 0:
        return 0
    load = rate_per_hour * mean_seconds / 3600
    servers = max(1, math.floor(load) + 1)
    while servers < MAX_COUNTERS:
        waits = erlang_c(servers, load)
        if 1 - waits * math.exp(-(servers - load) * target_seconds / mean_seconds) >= goal:
            return servers
        servers += 1
    return MAX_COUNTERS


class Arrivals:
    """Tickets taken by weekday, hour and service (a transfer's new ticket is no arrival), and how
    many days of each weekday had any, added up from the day partials of :mod:`turnero.stats`
    (their "issued" rows), so the suggestion costs no pass over the period's rows of its own."""

    def __init__(self):
        self.counts: dict = {}  # (weekday, hour, service) -> tickets
        self.days = [0] * 7

    def add_day(self, day: date, issued: list) -> None:
        weekday = day.weekday()
        for service, _, hour, count in issued:
            key = (weekday, hour, service)
            self.counts[key] = self.counts.get(key, 0) + count
        if issued:
            self.days[weekday] += 1

    def grid(self) -> list:
        """Tickets by weekday (0 = Monday) and hour, all services."""
        rows = [[0] * 24 for _ in range(7)]
        for (weekday, hour, _), count in self.counts.items():
            rows[weekday][hour] += count
        return rows


def suggestion(engine, start: date, end: date) -> dict:
    """{"goal", "hours": [local hours with arrivals], "weekdays": [{"weekday" (0 = Monday), "days",
    "slots": {hour: {"arrivals" (per hour, average), "counters"}}}]} over the days start..end.
    (The reports page gets it along with the KPIs: ``compute_stats(..., staffing=True)``.)"""
    from turnero.stats import day_partials  # stats imports this module

    arrivals = Arrivals()
    for day, partial in day_partials(engine, start, end):
        arrivals.add_day(day, partial["issued"])
    return plan(engine, arrivals)


def plan(engine, arrivals: Arrivals) -> dict:
    """The suggestion (see :func:`suggestion`) for these arrivals."""
    history = engine.estimates.history(engine.store.connect())
    services = engine.settings.services
    goal = engine.settings.reports["within_target_goal"] or DEFAULT_GOAL
    days = arrivals.days
    slots: dict = {}
    # In (weekday, hour, service) order: the float sums below then add up as they always have.
    for (day, hour, code), count in sorted(arrivals.counts.items()):
        if code in services and days[day]:
            slots.setdefault((day, hour), {})[code] = count / days[day]
    weekdays = {}
    for (day, hour), rates in slots.items():
        total = sum(rates.values())
        mean = sum(rate * history.mean_seconds.get(code, services[code].service_minutes * 60)
                   for code, rate in rates.items()) / total
        target = min(services[code].target_wait_minutes for code in rates) * 60
        entry = weekdays.setdefault(day, {"weekday": day, "days": days[day], "slots": {}})
        entry["slots"][hour] = {"arrivals": round(total, 1), "counters": counters_needed(total, mean, target, goal)}
    return {"goal": goal, "hours": sorted({hour for _, hour in slots}),
            "weekdays": [weekdays[day] for day in sorted(weekdays)]}
