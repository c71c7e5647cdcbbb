"""The reports' breakdowns beyond the KPIs of :mod:`turnero.stats`: the daily wait trend, arrivals
by weekday and hour, counts by outcome, result code and matter, figures by language, the survey,
counters' pause and idle time, and the per-ticket rows of the CSV.

What is cached: the figures that come from a day's attentions and tickets join the day's partial
of :mod:`turnero.stats` (same passes over the rows, same fingerprint, same ``_DayCache`` and
``stats_days``): its ``results`` rows (service, counter, staff, outcome or "transferred", result
code, count, seconds with a ticket in hand) and ``languages`` (issued counts, served waits). The survey and
the counters' state changes are read for the whole period on each report: they are few rows, and
the fingerprint does not cover them.
"""
from __future__ import annotations

from datetime import date

from turnero.audiences import PERSONAL_COLUMNS
from turnero.staffing import Arrivals

# A partial kept by a version without the breakdowns lacks this key and is recomputed.
PARTIAL_VERSION_KEY = "results"
OUTCOMES = ("resolved", "pending", "referred", "no_show")
COUNTER_EVENTS = ("counter.opened", "counter.paused", "counter.resumed", "counter.closed")


def _stats():
    from turnero import stats  # stats imports this module

    return stats


class Breakdowns:
    """Adds up the days' breakdowns while :func:`turnero.stats.compute_stats` walks the period."""

    def __init__(self, engine):
        self.engine = engine
        self.daily_waits: list = []
        self.arrivals = Arrivals()
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.results: dict = {}
        self.busy: dict = {}
        self.transfer_attentions: dict = {}  # (kind, key) -> attentions closed by an internal transfer
        self.language_issued: dict = {}
        self.language_waits: dict = {}

    def add_day(self, day: date, partial: dict) -> None:
        waits = [wait for entry in partial["times"] for wait in entry[5]]
        self.daily_waits.append({"date": day.isoformat(), **_stats().sorted_summary(waits)})
        self.arrivals.add_day(day, partial["issued"])
        for service, counter, staff, outcome, result, count, busy in partial["results"]:
            if outcome == "transferred":
                for key in (("services", service), ("counters", counter), ("staff", staff)):
                    self.transfer_attentions[key] = self.transfer_attentions.get(key, 0) + count
            else:
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count
            if outcome not in ("no_show", "transferred"):
                self.results[(service, result)] = self.results.get((service, result), 0) + count
            if counter is not None:
                self.busy[(counter, staff)] = self.busy.get((counter, staff), 0) + busy
        for language, count in partial["languages"]["issued"]:
            self.language_issued[language] = self.language_issued.get(language, 0) + count
        for language, waits in partial["languages"]["served"]:
            self.language_waits.setdefault(language, []).extend(waits)

    def referrals_only(self, kind: str, key, referred: int) -> int:
        """A place's "referred" attentions less those closed by an internal transfer."""
        return referred - self.transfer_attentions.get((kind, key), 0)

    def render(self, first: date, last: date) -> dict:
        settings = self.engine.settings
        start, end = self.engine.clock.day_bounds(first)[0], self.engine.clock.day_bounds(last)[1]
        return {
            "daily_waits": self.daily_waits,
            "arrivals_by_weekday_hour": self.arrivals.grid(),
            "outcomes": self.outcomes,
            "results": self._results(settings),
            "matters": self._matters(settings),
            "languages": self._languages(),
            "ratings": ratings(self.engine, start, end),
            "counter_time": counter_time(self.engine, start, min(end, self.engine.clock()), self.busy),
        }

    def _results(self, settings) -> list:
        rows = []
        for (service, result), count in sorted(self.results.items(), key=lambda item: (-item[1], str(item[0]))):
            config = settings.services.get(service)
            rows.append({"service": service, "result": result, "count": count,
                         "label": (config.result_codes.get(result) if config and result else None)})
        return rows

    def _matters(self, settings) -> list:
        """Served attentions by matter (``[reports] matters`` maps a result code to its matter);
        a result code with no matter, or no result code, counts under ``None``."""
        matters = settings.reports.get("matters") or {}
        counts: dict = {}
        for (_, result), count in self.results.items():
            matter = matters.get(result) if result else None
            counts[matter] = counts.get(matter, 0) + count
        return [{"matter": matter, "count": count}
                for matter, count in sorted(counts.items(), key=lambda item: (item[0] is None, -item[1]))]

    def _languages(self) -> list:
        # Each day's waits are a sorted run without None: the summary merges them cheaply.
        return [{"language": language, "issued": self.language_issued.get(language, 0),
                 "served": len(self.language_waits.get(language, ())),
                 "wait_seconds": _stats().sorted_summary(self.language_waits.get(language, []))}
                for language in sorted(set(self.language_issued) | set(self.language_waits))]


def ratings(engine, start: float, end: float) -> dict:
    """Survey answers given in the period: count, mean and distribution of scores 1..5, overall and
    per service. Comments are never read here (they may name someone)."""
    cursor = engine.store.connect().cursor()
    cursor.row_factory = None
    per_service: dict = {}
    for service, score, count in cursor.execute(
            "SELECT service, score, COUNT(*) FROM ratings WHERE rated_at >= ? AND rated_at < ? GROUP BY 1, 2",
            (start, end)):
        per_service.setdefault(service, [0] * 5)[score - 1] += count
    overall = [sum(scores[i] for scores in per_service.values()) for i in range(5)]
    return {"total": _score_summary(overall),
            "services": [{"service": service, **_score_summary(scores)}
                         for service, scores in sorted(per_service.items())]}


def _score_summary(distribution: list) -> dict:
    count = sum(distribution)
    mean = sum((i + 1) * n for i, n in enumerate(distribution)) / count if count else None
    return {"count": count, "mean": None if mean is None else round(mean, 2), "distribution": distribution}


def counter_time(engine, start: float, end: float, busy: dict) -> dict:
    """Open, paused and idle seconds per counter and per staff user over ``[start, end)``.

    A counter's state follows its ``counter.opened|paused|resumed|closed`` events (the state at
    ``start`` is the one set by its last such event before). For each stretch between two events:
    - *paused* time: the counter was paused (by the user who held it);
    - *open* time: the counter was open, held by a user, not paused;
    - *idle* time: open time minus the time spent with a ticket in hand (from each attention's
      call to its end, at that counter and by that user), never below zero.
    Tickets called and then returned or cancelled leave no attention, so their time counts as idle.
    A counter left open overnight counts as open (and idle) until it is closed.
    """
    cursor = engine.store.connect().cursor()
    cursor.row_factory = None
    marks = ", ".join("?" * len(COUNTER_EVENTS))
    state: dict = {}
    for counter, new_state, staff, _ in cursor.execute(
            "SELECT json_extract(data, '$.counter.id'), json_extract(data, '$.counter.state'), "
            "json_extract(data, '$.counter.staff'), MAX(seq)"
            f" FROM events INDEXED BY events_by_type WHERE type IN ({marks}) AND at < ? GROUP BY 1",
            (*COUNTER_EVENTS, start)):
        state[counter] = (new_state, staff, start)
    open_time: dict = {}
    paused: dict = {}

    def account(counter, until):
        held, staff, since = state[counter]
        target = {"open": open_time, "paused": paused}.get(held)
        if target is not None and until > since:
            target[(counter, staff)] = target.get((counter, staff), 0) + until - since

    for at, counter, new_state, staff in cursor.execute(
            "SELECT at, json_extract(data, '$.counter.id'), json_extract(data, '$.counter.state'), "
            "json_extract(data, '$.counter.staff')"
            f" FROM events INDEXED BY events_by_type WHERE type IN ({marks}) AND at >= ? AND at < ? ORDER BY seq",
            (*COUNTER_EVENTS, start, end)):
        if counter in state:
            account(counter, at)
        state[counter] = (new_state, staff, at)
    for counter in state:
        account(counter, end)
    return {"counters": _time_rows(engine, open_time, paused, busy, 0),
            "staff": _time_rows(engine, open_time, paused, busy, 1)}


def _time_rows(engine, open_time: dict, paused: dict, busy: dict, part: int) -> list:
    totals: dict = {}
    for name, source in (("open", open_time), ("paused", paused), ("busy", busy)):
        for key, seconds in source.items():
            if key[part] is not None:
                totals.setdefault(key[part], {"open": 0.0, "paused": 0.0, "busy": 0.0})[name] += seconds
    rows = []
    for key, figures in sorted(totals.items(), key=lambda item: str(item[0])):
        row = {"id": key, "paused_seconds": round(figures["paused"], 1),
               "open_seconds": round(figures["open"], 1),
               "idle_seconds": round(max(0.0, figures["open"] - figures["busy"]), 1)}
        if part == 0:
            row["name"] = engine.views.counter_name(key)
        rows.append(row)
    return rows


# The per-ticket CSV: what a supervisor may take away in a spreadsheet. Personal data (as listed
# for the purge in turnero.audiences) is left out whatever this list says.
TICKET_COLUMNS = ("code", "service", "priority", "language", "channel", "issued_at", "called_at", "started_at",
                  "finished_at", "status", "counter", "staff")
ATTENTION_COLUMNS = ("outcome", "result", "wait_seconds", "service_seconds", "counter", "staff", "called_at",
                     "started_at", "ended_at")


def _public(columns: tuple, table: str) -> list:
    return [column for column in columns if column not in PERSONAL_COLUMNS[table]]


def ticket_rows(engine, first: date, last: date) -> list[dict]:
    """One dict per ticket issued in the period (a transfer's new ticket included), with its last
    attention's figures; no personal data."""
    start, end = engine.clock.day_bounds(first)[0], engine.clock.day_bounds(last)[1]
    conn = engine.store.connect()
    ticket_columns, attention_columns = _public(TICKET_COLUMNS, "tickets"), _public(ATTENTION_COLUMNS, "attentions")
    attentions = {}
    for row in conn.execute(
            f"SELECT ticket_id, {', '.join(attention_columns)} FROM attentions INDEXED BY attentions_by_time"
            " WHERE ended_at >= ? ORDER BY ended_at", (start,)):
        attentions[row["ticket_id"]] = dict(row)  # the last attention of the ticket wins
    rows = []
    for row in conn.execute(
            f"SELECT id, {', '.join(ticket_columns)} FROM tickets INDEXED BY tickets_issue_report"
            " WHERE issued_at >= ? AND issued_at < ? ORDER BY issued_at", (start, end)):
        ticket = dict(row)
        attention = attentions.get(ticket.pop("id"), {})
        attention.pop("ticket_id", None)
        rows.append({**ticket, **{f"attention_{key}": value for key, value in attention.items()}})
    return rows
