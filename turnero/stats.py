"""KPIs over a period: issued, served, no-shows, waits and service times, share within target.

Figures come per service, counter and staff user. Counting is done by SQLite (GROUP BY); only
the wait and service times are pulled into Python, as plain tuples, for their median, p90 and
max, so a month of 100,000 tickets stays well under a fifth of a second.

What counts where:
- issued: tickets taken in the period (a transfer's new ticket is not a new arrival);
- served: attentions that ended in the period other than no-shows (a ticket served in two services
  counts in each);
- no_shows: attentions with the outcome no_show;
- cancelled, transferred, expired: tickets that reached that state in the period; per counter and
  staff, those that were at the counter when it happened;
- wait: issue to call; service time: start to end of the attention.
"""
from __future__ import annotations

import base64
import json
import math
import sqlite3
import statistics
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict
from datetime import date, datetime, timedelta

from turnero.errors import DomainError
from turnero.report_breakdowns import PARTIAL_VERSION_KEY, Breakdowns
from turnero.staffing import plan

MAX_DAYS = 400
CLOSED_STATES = ("cancelled", "transferred", "expired")


def percentile(sorted_values: list, share: float):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]


def summary(values: list) -> dict:
    return sorted_summary(sorted(v for v in values if v is not None))


def sorted_summary(values: list) -> dict:
    """Like :func:`summary` for a list without None, sorted here in place (cheap when it is
    made of sorted runs)."""
    values.sort()
    if not values:
        return {"count": 0, "median": None, "p90": None, "max": None}
    return {"count": len(values), "median": round(statistics.median(values), 1),
            "p90": round(percentile(values, 0.9), 1), "max": round(values[-1], 1)}


def parse_period(clock, from_text: str | None, to_text: str | None) -> tuple[date, date]:
    today = clock.local().date()
    try:
        start = _local_day(clock, from_text) if from_text else today
        end = _local_day(clock, to_text) if to_text else start if from_text else today
    except (ValueError, OverflowError):
        raise DomainError("invalid_date", "Las fechas deben tener la forma AAAA-MM-DD (o una fecha y hora "
                          "RFC 3339).", 400) from None
    if end < start:
        raise DomainError("invalid_period", "La fecha final es anterior a la inicial.", 422)
    if end >= date.max:  # its day has no end (the next midnight is past year 9999)
        raise DomainError("invalid_period", "La fecha final está fuera del rango admitido.", 422)
    if (end - start).days > MAX_DAYS:
        raise DomainError("invalid_period", f"El periodo no puede pasar de {MAX_DAYS} días.", 422)
    return start, end


def _local_day(clock, text: str) -> date:
    """A day (``2026-11-29``), or the sede's local day of an RFC 3339 time (``...T10:00:00-05:00``)."""
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 time needs its offset")
    return clock.local(moment.timestamp()).date()


def _share(part: int, whole: int):
    return round(part / whole, 4) if whole else None


class _Bucket:
    """Running figures of one service, counter or staff user."""

    __slots__ = ("served", "no_shows", "referred", "within", "waits", "service_times", "preferential_served",
                 "preferential_waits", "closed")

    def __init__(self):
        self.served = self.no_shows = self.referred = self.within = self.preferential_served = 0
        self.waits: list = []
        self.service_times: list = []
        self.preferential_waits: list = []
        self.closed: dict = {}

    def render(self) -> dict:
        return {
            "served": self.served, "no_shows": self.no_shows, "referred": self.referred,
            "cancelled": self.closed.get("cancelled", 0), "transferred": self.closed.get("transferred", 0),
            "wait_seconds": sorted_summary(self.waits), "service_seconds": sorted_summary(self.service_times),
            "within_target_share": _share(self.within, self.served),
            "preferential_share": _share(self.preferential_served, self.served),
            "preferential_wait_seconds": sorted_summary(self.preferential_waits),
        }


class _DayCache:
    """Per-day partial figures, reused while the day's rows are unchanged.

    A day's partial is keyed by the database file and the day, and kept with a fingerprint of the
    rows it was made from (count and sum of the times of its attentions, issued tickets and
    closed tickets). A later change to that day (a requeue that reopens a ticket) changes the
    fingerprint and the day is recomputed, so the cache never serves stale figures.
    """

    def __init__(self, max_days: int = 62):
        self.max_days = max_days
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, fingerprint):
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != fingerprint:
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key, fingerprint, partial, kept: bool = False):
        """``kept``: the same figures are on disk (table ``stats_days``)."""
        with self._lock:
            self._items[key] = [fingerprint, partial, kept]
            self._items.move_to_end(key)
            while len(self._items) > self.max_days:
                self._items.popitem(last=False)

    def kept(self, key) -> bool:
        with self._lock:
            found = self._items.get(key)
            return found is not None and found[2]

    def mark_kept(self, key):
        with self._lock:
            if key in self._items:
                self._items[key][2] = True

    def clear(self):
        with self._lock:
            self._items.clear()


DAY_CACHE = _DayCache()


def _fingerprint(cursor, start: float, end: float) -> tuple:
    return (cursor.execute("SELECT COUNT(*), TOTAL(ended_at) FROM attentions INDEXED BY attentions_report"
                           " WHERE ended_at >= ? AND ended_at < ?", (start, end)).fetchone()
            + cursor.execute("SELECT COUNT(*), TOTAL(issued_at) FROM tickets INDEXED BY tickets_issue_report"
                             " WHERE issued_at >= ? AND issued_at < ?", (start, end)).fetchone()
            + cursor.execute("SELECT COUNT(*), TOTAL(finished_at) FROM tickets INDEXED BY tickets_closed_report"
                             " WHERE finished_at >= ? AND finished_at < ? AND status IN ('cancelled', 'transferred',"
                             " 'expired')", (start, end)).fetchone())


def _stored_partial(cursor, day: date, fingerprint: tuple):
    row = cursor.execute("SELECT fingerprint, partial FROM stats_days WHERE day = ?", (day.isoformat(),)).fetchone()
    if row is None or row[0] != json.dumps(fingerprint):
        return None  # never computed, or the day's rows changed since (a late requeue, a restore)
    stored = json.loads(row[1])
    if PARTIAL_VERSION_KEY not in stored or PACKED not in stored:
        return None  # kept by an older version: recompute
    return _unpack(stored)


# The time lists of a kept day are stored as packed doubles (base64 of IEEE 754 values, exact):
# writing and reading them as JSON numbers cost more than computing the day again.
PACKED = "packed"


def _packed(values: list) -> str:
    return base64.b64encode(array("d", values).tobytes()).decode("ascii")


def _unpacked(text: str) -> list:
    values = array("d")
    values.frombytes(base64.b64decode(text))
    return values.tolist()


def _pack(partial: dict) -> dict:
    return {**partial, PACKED: True,
            "times": [(*entry[:5], _packed(entry[5]), _packed(entry[6])) for entry in partial["times"]],
            "languages": {"issued": partial["languages"]["issued"],
                          "served": [(language, _packed(waits)) for language, waits in partial["languages"]["served"]]}}


def _unpack(stored: dict) -> dict:
    stored.pop(PACKED)
    stored["times"] = [(*entry[:5], _unpacked(entry[5]), _unpacked(entry[6])) for entry in stored["times"]]
    stored["languages"]["served"] = [(language, _unpacked(waits)) for language, waits in stored["languages"]["served"]]
    return stored


def _store_partials(store, days: list) -> bool:
    """Keep finished days' figures ``(day, fingerprint, partial)``, so the first report of a month
    after a restart does not recompute every day. Best effort: a report must not fail because the
    disk is full."""
    try:
        with store.write(wait=1.0) as tx:
            tx.conn.executemany(
                "INSERT INTO stats_days (day, fingerprint, partial) VALUES (?, ?, ?) ON CONFLICT(day)"
                " DO UPDATE SET fingerprint = excluded.fingerprint, partial = excluded.partial",
                [(day.isoformat(), json.dumps(fingerprint), json.dumps(_pack(partial), separators=(",", ":")))
                 for day, fingerprint, partial in days])
    except sqlite3.Error:
        return False
    return True


def keep_day_figures(engine, day: date) -> None:
    """Compute and keep one finished day's report figures (run when the service day closes)."""
    compute_stats(engine, day.isoformat(), day.isoformat())


def _day_partial(cursor, start: float, end: float, offset: float) -> dict:
    """The figures of one local day that add up across days (counts, and sorted time lists).

    One pass over the day's attentions, one over its issued tickets and one over its closed
    tickets; the reports' breakdowns (turnero.report_breakdowns) are folded from the same rows.
    No pass looks each attention's ticket up (that doubled the cost of a cold month): what the
    breakdowns need from the ticket comes from the closed tickets, since a served attention is
    written with its ticket's end (done, or transferred while being served), at the same instant
    and with the same times, and such a ticket is never reopened."""
    outcomes, times, results = {}, {}, {}
    # SQLite hands each group's times over as one JSON array: parsing that in C is cheaper than
    # building a Python tuple per attention.
    for service, counter, staff, preferential, outcome, result, count, waits, service_times, busy in cursor.execute(
            "SELECT service, counter, staff, priority IS NOT NULL, outcome, result, COUNT(*),"
            " json_group_array(wait_seconds), json_group_array(service_seconds),"
            " TOTAL(ended_at - COALESCE(called_at, ended_at)) FROM attentions INDEXED BY attentions_by_time"
            " WHERE ended_at >= ? AND ended_at < ? GROUP BY 1, 2, 3, 4, 5, 6", (start, end)):
        key = (service, counter, staff, outcome)
        outcomes[key] = outcomes.get(key, 0) + count
        key = (service, counter, staff, outcome, result)
        found = results.get(key)
        results[key] = [count, busy] if found is None else [found[0] + count, found[1] + busy]
        if outcome != "no_show":
            found = times.setdefault((service, counter, staff, preferential), [0, [], []])
            found[0] += count
            found[1] += json.loads(waits)
            found[2] += json.loads(service_times)
    # A transfer to another service of the sede also closes its attention as "referred": those
    # attentions (found by their ticket, at the very instant it was transferred) are told apart
    # from referrals to another entity.
    for service, counter, staff, result, count, busy in cursor.execute(
            "SELECT a.service, a.counter, a.staff, a.result, COUNT(*), TOTAL(a.ended_at - COALESCE(a.called_at,"
            " a.ended_at)) FROM tickets t INDEXED BY tickets_closed_report JOIN attentions a INDEXED BY"
            " attentions_by_time ON a.ended_at = t.finished_at AND a.ticket_id = t.id WHERE t.finished_at >= ?"
            " AND t.finished_at < ? AND t.status = 'transferred' AND a.outcome = 'referred' GROUP BY 1, 2, 3, 4",
            (start, end)):
        found = results[(service, counter, staff, "referred", result)]
        found[0] -= count
        found[1] -= busy
        results[(service, counter, staff, "transferred", result)] = [count, busy]
    issued, transferred_in, issued_languages = [], [], {}
    for service, preferential, hour, transferred, language, count in cursor.execute(
            "SELECT service, priority IS NOT NULL, CAST(issued_at + ? AS INTEGER) % 86400 / 3600,"
            " transferred_from IS NOT NULL, language, COUNT(*) FROM tickets INDEXED BY tickets_issue_report"
            " WHERE issued_at >= ? AND issued_at < ? GROUP BY 1, 2, 3, 4, 5", (offset, start, end)):
        if transferred:
            transferred_in.append((service, count))
        else:
            issued.append((service, preferential, hour, count))
            issued_languages[language] = issued_languages.get(language, 0) + count
    served_languages = [(language, _sorted_values(json.loads(waits))) for language, waits in cursor.execute(
            "SELECT language, json_group_array(called_at - issued_at) FROM tickets INDEXED BY tickets_closed_report"
            " WHERE finished_at >= ? AND finished_at < ? AND (status = 'done' OR (status = 'transferred'"
            " AND started_at IS NOT NULL)) GROUP BY 1", (start, end))]
    return {
        "issued": issued, "transferred_in": transferred_in,
        "outcomes": [(*key, count) for key, count in outcomes.items()],
        "times": [(*key, count, _sorted_values(waits), _sorted_values(service_times))
                  for key, (count, waits, service_times) in times.items()],
        "results": [(*key, count, busy) for key, (count, busy) in results.items() if count],
        "languages": {"issued": list(issued_languages.items()), "served": served_languages},
        "closed": cursor.execute(
            "SELECT service, counter, staff, status, COUNT(*) FROM tickets INDEXED BY tickets_closed_report"
            " WHERE finished_at >= ? AND finished_at < ? AND status IN ('cancelled', 'transferred', 'expired')"
            " GROUP BY 1, 2, 3, 4", (start, end)).fetchall(),
    }


def _sorted_values(values: list) -> list:
    if None in values:
        values = [value for value in values if value is not None]
    values.sort()
    return values


def day_partials(engine, first: date, last: date) -> list[tuple[date, dict]]:
    """(day, partial) of each local day first..last: kept ones while their rows are unchanged,
    the others computed (and the finished ones kept, in memory and on disk)."""
    clock = engine.clock
    cursor = engine.store.connect().cursor()
    cursor.row_factory = None  # plain tuples: several times faster than sqlite3.Row for 100k rows
    database = str(engine.store.path)
    today_local = clock.local().date()
    found, to_keep = [], []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        start, end = clock.day_bounds(day)
        fingerprint = _fingerprint(cursor, start, end)
        partial = DAY_CACHE.get((database, day), fingerprint)
        if partial is None:
            partial = _stored_partial(cursor, day, fingerprint)
            kept = partial is not None
            if partial is None:
                partial = _day_partial(cursor, start, end, clock.local(start).utcoffset().total_seconds())
            DAY_CACHE.put((database, day), fingerprint, partial, kept)
        if day < today_local and not DAY_CACHE.kept((database, day)):
            to_keep.append((day, fingerprint, partial))  # a day that is over is kept on disk too
        found.append((day, partial))
    if to_keep and _store_partials(engine.store, to_keep):
        for day, _, _ in to_keep:
            DAY_CACHE.mark_kept((database, day))
    return found


def compute_stats(engine, from_text: str | None = None, to_text: str | None = None, staffing: bool = False) -> dict:
    """KPIs from ``from_text`` to ``to_text`` (local dates, inclusive; default today); with
    ``staffing``, also the staffing suggestion (:mod:`turnero.staffing`) under "staffing", from
    the same days.

    Errors: invalid_date (400), invalid_period (422).
    """
    clock, settings = engine.clock, engine.settings
    first, last = parse_period(clock, from_text, to_text)
    days = day_partials(engine, first, last)
    daily = [{"date": day.isoformat(), "issued": 0, "served": 0, "no_shows": 0} for day, _ in days]
    groups = {"services": {}, "counters": {}, "staff": {}}

    def bucket(kind, key) -> _Bucket:
        found = groups[kind].get(key)
        if found is None:
            found = groups[kind][key] = _Bucket()
        return found

    issued, preferential_issued, arrivals, transferred_in = {}, {}, {}, {}
    times: dict = {}  # (service, counter, staff, preferential) -> [served, waits, service times]
    targets = {code: service.target_wait_minutes * 60 for code, service in settings.services.items()}
    extra = Breakdowns(engine)
    for index, (day, partial) in enumerate(days):
        today = daily[index]
        for service, preferential, hour, count in partial["issued"]:
            issued[service] = issued.get(service, 0) + count
            if preferential:
                preferential_issued[service] = preferential_issued.get(service, 0) + count
            arrivals.setdefault(service, [0] * 24)[hour] += count
            today["issued"] += count
        for service, count in partial["transferred_in"]:
            transferred_in[service] = transferred_in.get(service, 0) + count
        for service, counter, staff, status, count in partial["closed"]:
            places = [bucket("services", service)]
            if counter is not None:
                places += [bucket("counters", counter), bucket("staff", staff)]
            for place in places:
                place.closed[status] = place.closed.get(status, 0) + count
        for service, counter, staff, outcome, count in partial["outcomes"]:
            if outcome != "no_show":
                today["served"] += count
                if outcome != "referred":
                    continue
            else:
                today["no_shows"] += count
            for place in (bucket("services", service), bucket("counters", counter), bucket("staff", staff)):
                if outcome == "no_show":
                    place.no_shows += count
                else:
                    place.referred += count
        extra.add_day(day, partial)
        for service, counter, staff, preferential, served, waits, service_times in partial["times"]:
            found = times.get((service, counter, staff, preferential))
            if found is None:
                times[(service, counter, staff, preferential)] = [served, list(waits), list(service_times)]
            else:
                found[0] += served
                found[1] += waits
                found[2] += service_times
    # Each day's time lists are sorted runs. Merged first per (service, counter, staff, class),
    # a dimension's list is the concatenation of a few long runs, which timsort merges far more
    # cheaply than the days' many short ones, three dimensions over.
    for (service, counter, staff, preferential), (served, waits, service_times) in times.items():
        waits.sort()
        service_times.sort()
        within = bisect_right(waits, targets[service]) if service in targets else 0
        for place in (bucket("services", service), bucket("counters", counter), bucket("staff", staff)):
            place.served += served
            place.within += within
            place.waits += waits
            place.service_times += service_times
            if preferential:
                place.preferential_served += served
                place.preferential_waits += waits

    for kind, places in groups.items():  # "referred" means referred to another entity
        for key, place in places.items():
            place.referred = extra.referrals_only(kind, key, place.referred)
    services = []
    for code in list(settings.services) + sorted((set(groups["services"]) | set(issued)) - set(settings.services)):
        config = settings.services.get(code)
        entry = bucket("services", code)
        out = {"code": code, "name": config.name() if config else code, "issued": issued.get(code, 0)}
        out.update(entry.render())
        out.update({
            "expired": entry.closed.get("expired", 0), "transferred_in": transferred_in.get(code, 0),
            "target_wait_minutes": config.target_wait_minutes if config else None,
            "preferential_issued": preferential_issued.get(code, 0),
            "preferential_issued_share": _share(preferential_issued.get(code, 0), issued.get(code, 0)),
            "arrivals_by_hour": arrivals.get(code, [0] * 24),
        })
        services.append(out)

    everything = _Bucket()
    for entry in groups["services"].values():
        everything.served += entry.served
        everything.no_shows += entry.no_shows
        everything.referred += entry.referred
        everything.within += entry.within
        everything.preferential_served += entry.preferential_served
        everything.waits += entry.waits
        everything.service_times += entry.service_times
        everything.preferential_waits += entry.preferential_waits
        for status, count in entry.closed.items():
            everything.closed[status] = everything.closed.get(status, 0) + count
    total_issued = sum(issued.values())
    totals = {"issued": total_issued}
    totals.update(everything.render())
    totals.update({
        "expired": everything.closed.get("expired", 0),
        # Kept from the first version of this endpoint: the share of *issued* tickets that were preferential.
        "preferential_share": _share(sum(preferential_issued.values()), total_issued),
        "preferential_served_share": _share(everything.preferential_served, everything.served),
    })
    figures = {
        "from": first.isoformat(), "to": last.isoformat(),
        "totals": totals,
        "services": services,
        "counters": [{"id": key, "name": engine.views.counter_name(key), **entry.render()}
                     for key, entry in sorted(groups["counters"].items(), key=lambda item: str(item[0]))],
        "staff": [{"username": key, **entry.render()}
                  for key, entry in sorted(groups["staff"].items(), key=lambda item: str(item[0]))],
        "arrivals_by_hour": [sum(hours[h] for hours in arrivals.values()) for h in range(24)],
        "daily": daily,
        "days": (last - first).days + 1,
        **extra.render(first, last),
    }
    if staffing:
        figures["staffing"] = plan(engine, extra.arrivals)
    return figures


def own_figures(engine, username: str) -> dict:
    """Today's figures of one staff user, for their console."""
    start, end = engine.clock.day_bounds(engine.clock.local().date())
    served, no_shows, referred, service_times, waits = 0, 0, 0, [], []
    cursor = engine.store.connect().cursor()
    cursor.row_factory = None
    for outcome, wait, served_for in cursor.execute(
            "SELECT outcome, wait_seconds, service_seconds FROM attentions WHERE staff = ? AND ended_at >= ?"
            " AND ended_at < ?", (username, start, end)):
        if outcome == "no_show":
            no_shows += 1
            continue
        served += 1
        referred += outcome == "referred"
        service_times.append(served_for)
        waits.append(wait)
    transferred = cursor.execute("SELECT COUNT(*) FROM tickets WHERE staff = ? AND status = 'transferred' AND"
                                 " finished_at >= ? AND finished_at < ?", (username, start, end)).fetchone()[0]
    return {"username": username, "date": engine.clock.service_day(), "served": served, "no_shows": no_shows,
            "referred": referred, "transferred": transferred, "service_seconds": summary(service_times),
            "wait_seconds": summary(waits)}
