"""KPIs per sede and for the country, read from day summaries kept as events arrive:
issued, served, no-shows, cancelled, transferred, waits and service times (median, p90), share
served within each service's target wait.

Days are each sede's own service days (in the time zone its box sends, America/Lima by
default). Targets are the ones each box sends per service; a service the box never described
gets the central's default (30 minutes). The national page and the per-sede page both go through
:func:`_groups` and :func:`_figures`, so a sede's figures are the same on both.

The summaries: kept per day (and per month) as events arrive, so that figures for a month or a
year read a few thousand small rows instead of millions of raw events.

One row per ``(sede, day, dimension, key)``: ``dimension`` is ``service`` (key: the service code,
``''`` when an event names none), ``counter`` (key: the counter id) or ``language`` (key: the
ticket's language: arrivals, attentions and waits by the language the person chose). Each row holds counts
(issued, served, no-shows, cancelled, transferred away, expired) and two histograms, of wait and
of service seconds, as JSON objects ``{bucket: count}``.

Why histograms: they add up across days, services and sedes exactly (a median of medians does
not), and they stay small. A bucket is :data:`BUCKET_SECONDS` wide: bucket ``b`` holds times in
``((b - 1) * 30, b * 30]`` seconds (bucket 0 holds exactly 0). So "within a target of T whole
minutes" (``wait <= 60 T``) is exact, and a median or p90 read from a histogram is within 30 s of
the one from the raw times (interpolated inside its bucket, up to its end). The target is applied when the
figures are read, so a changed target applies to the whole history at once.

The raw events remain the source: :func:`rebuild` recomputes a sede's rows from them, with the
same :func:`contributions` that ingest uses. Each event counts once by its id, in whatever epochs
it arrives (a restored box sends its history again with the same ids).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from central import checks
from central import service as central_service

BUCKET_SECONDS = 30
COUNTS = ("issued", "served", "no_shows", "cancelled", "transferred", "expired")
COUNTED_TYPES = {"ticket.issued": "issued", "ticket.cancelled": "cancelled", "ticket.expired": "expired"}
REBUILD_DAYS = 31  # raw events are read a month at a time, not a sede's whole history at once


def bucket(seconds) -> int:
    return max(0, math.ceil(seconds / BUCKET_SECONDS))


def contributions(event_type: str, data: dict):
    """What one event adds: ``(dimension, key, count_name | None, wait, service_time)`` items."""
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else {}
    if event_type in COUNTED_TYPES:
        yield "service", _key(ticket.get("service")), COUNTED_TYPES[event_type], None, None
        if event_type == "ticket.issued":  # arrivals by the language the person chose (Ley 29735)
            yield "language", _key(ticket.get("language")), "issued", None, None
    elif event_type == "ticket.transferred":
        # data.ticket is the new ticket; the transfer belongs to the service the person left.
        left = data.get("from") if isinstance(data.get("from"), dict) else {}
        yield "service", _key(left.get("service")), "transferred", None, None
    attention = data.get("attention")
    if isinstance(attention, dict) and isinstance(attention.get("outcome"), str):
        no_show = attention["outcome"] == "no_show"
        wait, served = (None, None) if no_show else (_number(attention.get("wait_seconds")),
                                                      _number(attention.get("service_seconds")))
        name = "no_shows" if no_show else "served"
        yield "service", _key(attention.get("service")), name, wait, served
        yield "counter", _key(attention.get("counter")), name, wait, served
        yield "language", _key(ticket.get("language")), name, wait, served


class Delta:
    """What a set of events adds to the summaries, per ``(day, dimension, key)``."""

    def __init__(self):
        self.rows: dict = defaultdict(lambda: {"counts": dict.fromkeys(COUNTS, 0), "waits": {}, "service": {}})

    def add(self, day: str, event_type: str, data: dict):
        for dimension, key, count, wait, served in contributions(event_type, data):
            row = self.rows[(day, dimension, key)]
            row["counts"][count] += 1
            for histogram, value in ((row["waits"], wait), (row["service"], served)):
                if value is not None:
                    slot = str(bucket(value))
                    histogram[slot] = histogram.get(slot, 0) + 1

    def write(self, tx, code: str, months: bool = True):
        """Add to the stored day rows and month rows (the caller holds the sede's lock, so
        read-then-write is safe)."""
        _add(tx, code, "daily", "day", self.rows)
        if months:
            _add(tx, code, "monthly", "month", _roll_up(self.rows))


def _roll_up(day_rows: dict) -> dict:
    """Day rows added up per calendar month."""
    months: dict = {}
    for (day, dimension, key), row in day_rows.items():
        month = months.setdefault((day[:7], dimension, key), {"counts": dict.fromkeys(COUNTS, 0), "waits": {},
                                                              "service": {}})
        for name in COUNTS:
            month["counts"][name] += row["counts"][name]
        month["waits"] = merge([month["waits"], row["waits"]])
        month["service"] = merge([month["service"], row["service"]])
    return months


def _add(tx, code: str, table: str, column: str, rows: dict):
    if not rows:
        return
    periods = sorted({period for period, _, _ in rows})
    held = {(r[0], r[1], r[2]): (r[3], r[4]) for r in tx.all(
        f"SELECT {column}, dimension, key, waits, service_times FROM {table} WHERE sede = ? AND {column} >= ? "
        f"AND {column} <= ?", (code, periods[0], periods[-1])) if (r[0], r[1], r[2]) in rows}
    out = []
    for (period, dimension, key), row in rows.items():
        old = held.get((period, dimension, key), ("{}", "{}"))
        waits = merge([json.loads(old[0]), row["waits"]])
        service = merge([json.loads(old[1]), row["service"]])
        out.append((code, period, dimension, key, *(row["counts"][c] for c in COUNTS), _dump(waits), _dump(service)))
    tx.executemany(
        f"INSERT INTO {table} (sede, {column}, dimension, key, issued, served, no_shows, cancelled, transferred,"
        f" expired, waits, service_times) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sede, {column},"
        f" dimension, key) DO UPDATE SET issued = {table}.issued + excluded.issued, served = {table}.served +"
        f" excluded.served, no_shows = {table}.no_shows + excluded.no_shows, cancelled = {table}.cancelled +"
        f" excluded.cancelled, transferred = {table}.transferred + excluded.transferred, expired = {table}.expired +"
        f" excluded.expired, waits = excluded.waits, service_times = excluded.service_times", out)


def merge(histograms) -> dict:
    out: dict = {}
    for histogram in histograms:
        for slot, n in histogram.items():
            out[slot] = out.get(slot, 0) + n
    return out


def kept_from(tx, code: str) -> str | None:
    """The first day whose raw events are still held (None: nothing was pruned)."""
    row = tx.one("SELECT kept_from FROM retention WHERE sede = ?", (code,))
    return row[0] if row else None


def rebuild(tx, code: str) -> int:
    """Recompute a sede's summaries from its raw events (only the days still held, when older raw
    events were pruned; the month rows are then summed again from all the day rows); returns how
    many events were counted."""
    since = kept_from(tx, code) or ""
    tx.execute("DELETE FROM daily WHERE sede = ? AND day >= ?", (code, since))
    days = [r[0] for r in tx.all("SELECT DISTINCT day FROM events WHERE sede = ? AND day >= ? ORDER BY day",
                                 (code, since))]
    seen: set = set()
    counted = 0
    for start in range(0, len(days), REBUILD_DAYS):
        chunk = days[start:start + REBUILD_DAYS]
        delta = Delta()
        # Oldest epoch first is how they arrived; an id seen before is the same event sent again.
        for event_id, event_type, day, data in tx.all(
                "SELECT id, type, day, data FROM events WHERE sede = ? AND day >= ? AND day <= ? "
                "ORDER BY day, epoch, seq", (code, chunk[0], chunk[-1])):
            if event_id in seen:
                continue
            seen.add(event_id)
            counted += 1
            delta.add(day, event_type, json.loads(data))
        delta.write(tx, code, months=False)
    roll_up_months(tx, code)
    return counted


def roll_up_months(tx, code: str):
    """A sede's month rows summed again from all its day rows (kept after raw events are pruned)."""
    tx.execute("DELETE FROM monthly WHERE sede = ?", (code,))
    rows: dict = {}
    for day, dimension, key, *rest in tx.all(
            "SELECT day, dimension, key, issued, served, no_shows, cancelled, transferred, expired, waits, "
            "service_times FROM daily WHERE sede = ?", (code,)):
        rows[(day, dimension, key)] = {"counts": dict(zip(COUNTS, rest[:6])), "waits": json.loads(rest[6]),
                                       "service": json.loads(rest[7])}
    _add(tx, code, "monthly", "month", _roll_up(rows))


def rebuild_all(tx) -> int:
    return sum(rebuild(tx, code) for (code,) in tx.all("SELECT code FROM sedes ORDER BY code"))


# ------------------------------------------------------------------ reading

def percentile(histogram: dict, q: float):
    """The q-quantile of the times a histogram holds, interpolated inside its bucket (None: empty)."""
    return _percentiles(sorted((int(slot), n) for slot, n in histogram.items()), (q,))[0]


def _percentiles(slots: list, quantiles) -> list:
    total = sum(n for _, n in slots)
    if not total:
        return [None for _ in quantiles]
    out = []
    for q in quantiles:
        rank = q * (total - 1)
        below = 0
        for b, n in slots:
            if rank < below + n:
                # Upper-edge interpolation: a single time reads as its bucket's end, never early.
                out.append(0.0 if b == 0 else round((b - 1) * BUCKET_SECONDS + BUCKET_SECONDS * min(
                    1.0, (rank - below + 1) / n), 1))
                break
            below += n
    return out


def within(histogram: dict, target_minutes: int) -> int:
    """How many times are at most ``target_minutes`` (exact for whole minutes)."""
    limit = target_minutes * 60 // BUCKET_SECONDS
    return sum(n for slot, n in histogram.items() if int(slot) <= limit)


def describe(histogram: dict) -> dict:
    """Same shape as ``turnero.stats.summary``: count, median, p90, max (seconds)."""
    slots = sorted((int(slot), n) for slot, n in histogram.items())
    median, p90 = _percentiles(slots, (0.5, 0.9))
    return {"count": sum(n for _, n in slots), "median": median, "p90": p90,
            "max": float(slots[-1][0] * BUCKET_SECONDS) if slots else None}


def _key(value) -> str:
    return value if isinstance(value, str) else ""


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def _dump(histogram: dict) -> str:
    # Buckets in order: the same figures give the same text, however they were added up.
    return json.dumps(dict(sorted(histogram.items(), key=lambda item: int(item[0]))), separators=(",", ":"))


# ------------------------------------------------------------------ commands

def rebuild_summaries(db, code: str | None = None) -> dict:
    """``turnero-central rebuild-summaries [--sede X]``: ``{sede: events counted}``. One
    transaction per sede, holding its lock, so a push of that sede waits rather than interleaves."""
    out = {}
    codes = [code] if code else [r[0] for r in db.all("SELECT code FROM sedes ORDER BY code")]
    for each in codes:
        with db.transaction() as tx:
            if tx.one("SELECT 1 FROM sedes WHERE code = ?" + db.lock_clause(), (each,)) is None:
                raise central_service.CentralError("unknown_sede", f"No sede {each!r}.", 404)
            out[each] = rebuild(tx, each)
    return out


def prune_events(db, older_than_days: int, today=None) -> dict:
    """``turnero-central prune-events --older-than-days N``: delete raw events (and the attention
    rows drawn from them) of days more than N days before each sede's today, once they are
    acknowledged (an event beyond a gap stays: the gap's re-send needs it). Summaries are kept;
    from then on a rebuild covers only the days still held. Returns ``{sede: events deleted}``."""
    if older_than_days < 1:
        raise ValueError("--older-than-days must be at least 1")
    out = {}
    for code, zone in db.all("SELECT code, timezone FROM sedes ORDER BY code"):
        local_today = today or datetime.now(timezone.utc).astimezone(ZoneInfo(zone or central_service.DEFAULT_TIMEZONE)).date()
        cutoff = (local_today - timedelta(days=older_than_days)).isoformat()
        with db.transaction() as tx:
            tx.one("SELECT 1 FROM sedes WHERE code = ?" + db.lock_clause(), (code,))
            acked = "(SELECT acked_seq FROM epochs WHERE epochs.sede = {t}.sede AND epochs.epoch = {t}.epoch)"
            out[code] = tx.execute(
                f"DELETE FROM events WHERE sede = ? AND day < ? AND seq <= {acked.format(t='events')}",
                (code, cutoff)).rowcount
            tx.execute(f"DELETE FROM attentions WHERE sede = ? AND day < ? AND seq <= {acked.format(t='attentions')}",
                       (code, cutoff))
            held = kept_from(tx, code)
            if held is None:
                tx.execute("INSERT INTO retention (sede, kept_from) VALUES (?, ?)", (code, cutoff))
            elif cutoff > held:
                tx.execute("UPDATE retention SET kept_from = ? WHERE sede = ?", (cutoff, code))
    return out


MAX_DAYS = 400
STALE_MINUTES = 15  # a sede with tickets open and no push for this long is shown as "sin noticias"
ORDERS = ("urgencia", "sede", "espera", "atendidos", "pendientes", "sincronizacion")


def period(from_text: str | None, to_text: str | None, today: date) -> tuple[str, str]:
    try:
        if not all(checks.is_date(text) for text in (from_text, to_text) if text):
            raise ValueError("not YYYY-MM-DD")
        start = date.fromisoformat(from_text) if from_text else today
        end = date.fromisoformat(to_text) if to_text else (start if from_text else today)
    except ValueError:
        raise central_service.CentralError("invalid_date", "Dates look like YYYY-MM-DD.", 400) from None
    if end < start or (end - start).days > MAX_DAYS:
        raise central_service.CentralError("invalid_period", "The period must run forward and span at most "
                                           f"{MAX_DAYS} days.", 422)
    return start.isoformat(), end.isoformat()


# ------------------------------------------------------------------ the one way figures are made

def _groups(db, first: str, last: str, code: str | None = None, counters: bool = False,
            days: dict | None = None) -> dict:
    """Summary rows added up per ``(sede, dimension, key)`` over the days ``first..last``
    (or, with ``days``, over each sede's own day ``days[sede]``): whole calendar months from the
    month rows, the days at either end from the day rows."""
    where, params = "", []
    if code is not None:
        where, params = " AND sede = ?", [code]
    if not counters:
        where += " AND dimension IN ('service', 'language')"
    # Service times are only shown per sede; the national page does not parse them.
    service_times = "service_times" if code is not None else "'{}'"
    columns = f"sede, dimension, key, issued, served, no_shows, cancelled, transferred, expired, waits, {service_times}"
    months, edges = _split(first, last) if days is None else ([], [(first, last)])
    rows = []
    if months:
        rows += db.all(f"SELECT {columns}, month FROM monthly WHERE month >= ? AND month <= ?{where}",
                       [months[0], months[-1], *params])
    for start, end in edges:
        rows += db.all(f"SELECT {columns}, day FROM daily WHERE day >= ? AND day <= ?{where}", [start, end, *params])
    out: dict = {}
    for row in rows:
        if days is not None and days.get(row[0]) != row[11]:
            continue
        group = out.setdefault((row[0], row[1], row[2]), {"counts": [0] * len(COUNTS), "waits": [],
                                                          "service": []})
        group["counts"] = [a + b for a, b in zip(group["counts"], row[3:9])]
        if row[9] != "{}":
            group["waits"].append(json.loads(row[9]))
        if row[10] != "{}":
            group["service"].append(json.loads(row[10]))
    return out


def _split(first: str, last: str) -> tuple[list[str], list[tuple[str, str]]]:
    """``first..last`` as the whole months inside it (``YYYY-MM``) and the day ranges left over."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    month = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    months = []
    while True:
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        if following - timedelta(days=1) > end:
            break
        months.append(month.isoformat()[:7])
        month = following
    if not months:
        return [], [(first, last)]
    edges = []
    head_end = date.fromisoformat(months[0] + "-01") - timedelta(days=1)
    if start <= head_end:
        edges.append((first, head_end.isoformat()))
    if month <= end:
        edges.append((month.isoformat(), last))
    return months, edges


def _figures(groups: list[tuple[dict, int | None]]) -> dict:
    """Figures of one or more groups together, each ``(group, target minutes or None)``."""
    counts = [0] * len(COUNTS)
    waits, service, inside = [], [], 0
    for group, target in groups:
        counts = [a + b for a, b in zip(counts, group["counts"])]
        merged = merge(group["waits"])
        waits.append(merged)
        service.extend(group["service"])
        if target is not None:
            inside += within(merged, target)
    named = dict(zip(COUNTS, counts))
    served = named["served"]
    return {**named, "wait_seconds": describe(merge(waits)),
            "service_seconds": describe(merge(service)),
            "within_target_share": round(inside / served, 4) if served else None}


def _service_info(sede: dict, key: str, default_target: int) -> dict:
    described = sede["services"].get(key) or {}
    return {"name": described.get("name") or key or None,
            "target_wait_minutes": described.get("target_wait_minutes") or default_target}


def _sede_figures(sede: dict, groups: dict, default_target: int) -> tuple[dict, list]:
    """A sede's totals and per-service rows from its groups."""
    rows = []
    parts = []
    for (code, dimension, key), group in sorted(groups.items(), key=lambda item: item[0][2]):
        if code != sede["code"] or dimension != "service":
            continue
        info = _service_info(sede, key, default_target)
        parts.append((group, info["target_wait_minutes"]))
        rows.append({"code": key or None, **info, **_figures([(group, info["target_wait_minutes"])])})
    return _figures(parts), rows


# ------------------------------------------------------------------ per sede

def sede_kpis(db, code: str, first: str, last: str, default_target: int = 30) -> dict:
    sede = next(s for s in central_service.list_sedes(db) if s["code"] == code)
    groups = _groups(db, first, last, code=code, counters=True)
    totals, services = _sede_figures(sede, groups, default_target)
    counters = [{"id": key or None, **_figures([(group, None)])}
                for (_, dimension, key), group in sorted(groups.items(), key=lambda item: item[0][2])
                if dimension == "counter"]
    for row in counters:
        row.pop("within_target_share")
    return {"sede": code, "from": first, "to": last, "timezone": sede["timezone"],
            "target_wait_minutes": default_target, "totals": totals, "services": services, "counters": counters,
            "languages": _languages(groups)}


def _languages(groups: dict) -> list[dict]:
    """Figures per ticket language over the groups given (one sede's, or every sede's)."""
    by_language: dict = defaultdict(list)
    for (_, dimension, key), group in groups.items():
        if dimension == "language":
            by_language[key].append((group, None))
    out = []
    for key, parts in sorted(by_language.items()):
        figures = _figures(parts)
        figures.pop("within_target_share")
        out.append({"language": key or None, **figures})
    return out


# ------------------------------------------------------------------ the country

def national(db, first: str, last: str, default_target: int = 30) -> dict:
    """Each sede's figures for a period, and the country's counts."""
    sedes = central_service.list_sedes(db)
    groups = _groups(db, first, last)
    out = []
    for sede in sedes:
        totals, services = _sede_figures(sede, groups, default_target)
        out.append({**sede, "totals": totals, "targets": _targets(services, sede, default_target)})
    totals = {key: sum(s["totals"][key] for s in out) for key in COUNTS}
    return {"from": first, "to": last, "sedes": out, "totals": totals, "target_wait_minutes": default_target,
            "languages": _languages(groups)}


def today(db, now: datetime | None = None, default_target: int = 30, order: str = "urgencia") -> dict:
    """One row per sede for its own today: waits against its targets, served, tickets still open,
    how long since its last push and whether that push left a gap; most urgent first."""
    now = now or datetime.now(timezone.utc)
    sedes = central_service.list_sedes(db)
    days = {s["code"]: now.astimezone(ZoneInfo(s["timezone"])).date().isoformat() for s in sedes}
    span = sorted(days.values()) or [now.date().isoformat()]
    groups = _groups(db, span[0], span[-1], days=days)
    rows = []
    for sede in sedes:
        totals, services = _sede_figures(sede, groups, default_target)
        received = datetime.fromisoformat(sede["last_received_at"]) if sede["last_received_at"] else None
        lag = (now - received).total_seconds() if received else None
        # Tickets issued today that the central has not yet seen closed. A person transferred to
        # another service keeps waiting under a new ticket, so a transfer closes nothing here.
        open_tickets = max(0, totals["issued"] - totals["served"] - totals["no_shows"] - totals["cancelled"]
                           - totals["expired"])
        over = [s for s in services if s["wait_seconds"]["p90"] is not None
                and s["wait_seconds"]["p90"] > s["target_wait_minutes"] * 60]
        stale = open_tickets > 0 and (lag is None or lag > STALE_MINUTES * 60)
        rows.append({**sede, "day": days[sede["code"]], "totals": totals, "services_today": services,
                     "targets": _targets(services, sede, default_target), "over_target": over,
                     "open_tickets": open_tickets, "lag_seconds": lag, "stale": stale,
                     "attention": stale or sede["gap"] or bool(over)})
    rows.sort(key=_ORDER_KEYS.get(order, _ORDER_KEYS["urgencia"]))
    return {"now": now, "order": order if order in ORDERS else "urgencia", "sedes": rows}


def _targets(services: list, sede: dict, default_target: int) -> list[int]:
    """The distinct targets that apply to a sede, lowest first (what its boxes said, or the default)."""
    found = {s["target_wait_minutes"] for s in services} | {
        item.get("target_wait_minutes") or default_target for item in sede["services"].values()}
    return sorted(found) or [default_target]


def _urgency(row):
    share = row["totals"]["within_target_share"]
    return (0 if row["stale"] or row["gap"] else 1, 0 if row["over_target"] else 1,
            share if share is not None else 2, -row["open_tickets"], row["name"])


_ORDER_KEYS = {
    "urgencia": _urgency,
    "sede": lambda row: row["name"].lower(),
    "espera": lambda row: -(row["totals"]["wait_seconds"]["p90"] or -1),
    "atendidos": lambda row: -row["totals"]["served"],
    "pendientes": lambda row: -row["open_tickets"],
    "sincronizacion": lambda row: -(row["lag_seconds"] if row["lag_seconds"] is not None else float("inf")),
}


def month_start(day: date) -> date:
    return day.replace(day=1)


def year_back(day: date) -> date:
    return day - timedelta(days=364)
