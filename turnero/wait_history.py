"""What the wait forecaster learns from the box's history (reads only).

- occupation times per service: how long a counter is taken by one ticket, from its call to the
  end of its attention (no-shows included: a counter waits for them too), plus the usual
  hand-over gap before the next call. Robust to outliers (winsorized in log scale), per hour of
  the day when an hour has enough of them, and blended with a prior built from the service's
  configured ``service_minutes`` while the history is thin;
- arrivals per service, class and hour of the day (walk-ins; appointments are counted from the
  bookings), over the last weeks the sede was open;
- the share of booked appointments that show up;
- how long a counter's pause lasts (a paused counter comes back: its queue is not stopped).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from statistics import NormalDist

from turnero.forecast import TIER_NORMAL, TIER_PREFERENTIAL, TIER_URGENT

RECENT_ATTENTIONS = 400  # newest occupation times kept per service
HISTORY_DAYS = 90
RATE_DAYS = 28  # arrival rates: the last four weeks
POOL_SIZE = 256  # occupation times drawn from, per service (and hour)
PRIOR_WEIGHT = 10  # the configured service time counts as this many attentions
PRIOR_SIGMA = 0.6  # spread (log scale) of the prior: attentions vary about as much as that
HOUR_MINIMUM = 80  # attentions of one hour of the day before that hour gets its own times
MIN_SECONDS = 10.0
OUTLIER_MADS = 3.5
GAP_LIMIT = 300.0  # a longer pause between two attentions is not a hand-over
DEFAULT_SHOW_SHARE = 0.85
WEEKDAY_MINIMUM = 3  # days of today's weekday in the rate window before that weekday gets its own rates
PAUSE_PRIOR_SECONDS = 600.0  # a pause lasts about this long until the box has seen some
RECENT_PAUSES = 200


@dataclass
class History:
    version: tuple  # what it was computed from (changes when it must be recomputed)
    pools: dict  # service -> 24 sorted lists of seconds
    rates: dict  # (service, tier) -> 24 arrivals per hour
    show_share: float
    gap: float
    mean_seconds: dict  # service -> mean occupation (the staffing suggestion uses it)
    pauses: list = field(default_factory=list)  # sorted seconds: how long pauses last


def load(conn, settings, clock, now: float) -> History:
    day_start = clock.day_bounds(clock.local(now).date())[0]
    offset = clock.local(now).utcoffset().total_seconds()
    gap = handover_gap(conn, now)
    pools, means = {}, {}
    for code, service in settings.services.items():
        rows = conn.execute(
            "SELECT called_at, ended_at FROM attentions WHERE service = ? AND ended_at >= ? AND called_at IS NOT NULL"
            " ORDER BY ended_at DESC LIMIT ?", (code, now - HISTORY_DAYS * 86400, RECENT_ATTENTIONS)).fetchall()
        samples = [(row[1] - row[0], int(((row[0] + offset) % 86400) // 3600)) for row in rows]
        prior = service.service_minutes * 60.0
        everyone = pool([seconds for seconds, _ in samples], prior, gap)
        hours = []
        for hour in range(24):
            own = [seconds for seconds, at in samples if at == hour]
            hours.append(pool(own, prior, gap) if len(own) >= HOUR_MINIMUM else everyone)
        pools[code] = hours
        means[code] = sum(everyone) / len(everyone)
    rates = arrival_rates(conn, settings, day_start, offset)
    return History(version=(), pools=pools, rates=rates, show_share=show_share(conn, day_start), gap=gap,
                   mean_seconds=means, pauses=pause_pool(conn, now))


def pool(samples: list, prior_seconds: float, gap: float = 0.0) -> list:
    """POOL_SIZE occupation times, sorted: the history's (winsorized) quantiles blended with a
    log-normal prior of mean ``prior_seconds`` in proportion PRIOR_WEIGHT : len(samples)."""
    cleaned = winsorized(samples)
    n = len(cleaned)
    from_prior = round(POOL_SIZE * PRIOR_WEIGHT / (n + PRIOR_WEIGHT))
    out = []
    if from_prior:
        median = math.log(prior_seconds) - PRIOR_SIGMA ** 2 / 2
        normal = NormalDist()
        out += [math.exp(median + PRIOR_SIGMA * normal.inv_cdf((i + 0.5) / from_prior)) for i in range(from_prior)]
    observed = POOL_SIZE - from_prior
    if observed and n:
        out += [cleaned[min(n - 1, int((i + 0.5) * n / observed))] for i in range(observed)]
    return sorted(value + gap for value in out)


def winsorized(samples: list) -> list:
    """Sorted samples with the extremes (a forgotten "finish", a mis-tap) pulled in to
    median ± OUTLIER_MADS robust deviations, in log scale (service times are skewed)."""
    if not samples:
        return []
    logs = sorted(math.log(max(MIN_SECONDS, value)) for value in samples)
    middle = _median(logs)
    spread = 1.4826 * _median(sorted(abs(value - middle) for value in logs)) or 0.25
    low, high = middle - OUTLIER_MADS * spread, middle + OUTLIER_MADS * spread
    return [math.exp(min(high, max(low, value))) for value in logs]


def _median(ordered: list) -> float:
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def handover_gap(conn, now: float) -> float:
    """The median time between an attention's end and the same counter's next call, when someone
    was already waiting (a counter does not call the instant it is free)."""
    rows = conn.execute(
        "SELECT counter, called_at, ended_at, issued_at FROM attentions WHERE ended_at >= ? AND counter IS NOT NULL"
        " AND called_at IS NOT NULL ORDER BY ended_at DESC LIMIT 2000", (now - 14 * 86400,)).fetchall()
    by_counter: dict = {}
    for row in rows:
        by_counter.setdefault(row[0], []).append((row[1], row[2], row[3]))
    gaps = []
    for calls in by_counter.values():
        calls.sort()
        for (_, ended, _), (called, _, issued) in zip(calls, calls[1:]):
            if issued <= ended and 0 <= called - ended <= GAP_LIMIT:
                gaps.append(called - ended)
    return _median(sorted(gaps)) if len(gaps) >= 10 else 0.0


def arrival_rates(conn, settings, day_start: float, offset: float) -> dict:
    """(service, tier) -> arrivals per hour, for each hour of the day: walk-ins of the last
    RATE_DAYS days the sede issued tickets (transfers and appointments are not walk-ins), only
    those of today's weekday once there are WEEKDAY_MINIMUM of them (Mondays are not Fridays)."""
    start = day_start - RATE_DAYS * 86400
    weekday = "CAST(strftime('%w', service_day) AS INTEGER)"
    per_weekday = dict(conn.execute(
        f"SELECT {weekday} AS weekday, COUNT(DISTINCT service_day) FROM tickets WHERE issued_at >= ?"
        " AND issued_at < ? GROUP BY weekday", (start, day_start)).fetchall())
    today = datetime.fromtimestamp(day_start + offset, timezone.utc).isoweekday() % 7  # as SQLite's %w
    rates = {(code, tier): [0.0] * 24 for code in settings.services
             for tier in (TIER_URGENT, TIER_PREFERENTIAL, TIER_NORMAL)}
    same_day = per_weekday.get(today, 0) >= WEEKDAY_MINIMUM
    days = per_weekday[today] if same_day else sum(per_weekday.values())
    if not days:
        return rates
    rows = conn.execute(
        f"SELECT service, CASE WHEN priority IS NULL THEN {TIER_NORMAL} WHEN priority = 'urgente' THEN {TIER_URGENT}"
        f" ELSE {TIER_PREFERENTIAL} END AS tier, CAST(((issued_at + ?) % 86400) / 3600 AS INTEGER) AS hour, COUNT(*)"
        " FROM tickets WHERE issued_at >= ? AND issued_at < ? AND transferred_from IS NULL"
        f" AND appointment_id IS NULL AND (? OR {weekday} = ?) GROUP BY service, tier, hour",
        (offset, start, day_start, not same_day, today)).fetchall()
    for service, tier, hour, count in rows:
        if (service, tier) in rates and 0 <= hour < 24:
            rates[(service, tier)][hour] = count / days
    return rates


def pause_pool(conn, now: float) -> list:
    """How long the counters' pauses of the last weeks lasted (paused to resumed or closed),
    blended with a PAUSE_PRIOR_SECONDS prior while they are few."""
    rows = conn.execute(
        "SELECT type, at, json_extract(data, '$.counter.id') FROM events WHERE at >= ? AND type IN"
        " ('counter.paused', 'counter.resumed', 'counter.closed') ORDER BY seq", (now - RATE_DAYS * 86400,)).fetchall()
    started, lengths = {}, []
    for kind, at, counter in rows:
        if kind == "counter.paused":
            started[counter] = at
        elif counter in started:
            lengths.append(at - started.pop(counter))
    return pool(lengths[-RECENT_PAUSES:], PAUSE_PRIOR_SECONDS)


def show_share(conn, day_start: float) -> float:
    """The share of the last weeks' booked appointments that came (got a ticket)."""
    booked, came = conn.execute(
        "SELECT COUNT(*), COUNT(ticket_id) FROM appointments WHERE status = 'booked' AND starts_at >= ?"
        " AND starts_at < ?", (day_start - RATE_DAYS * 86400, day_start)).fetchone()
    return came / booked if booked >= 20 else DEFAULT_SHOW_SHARE
