"""KPIs per sede and for the country, from what the sedes sent: the same figures as the box's
reports (``turnero.stats``): issued, served, no-shows, cancelled, transferred, waits and service
times (median, p90), share served within the target wait.

Days are the sede's own service days (each event's ``at`` carries the sede's offset).

Each event is counted once, by its id, whatever epochs carry it: a restored box sends its history
again under its new epoch, with the same event ids, and its tickets must not count twice. Events
that really differ (what the box did after the backup, and what it does after the restore) have
different ids and all count: nothing that happened is lost.
"""
from __future__ import annotations

import json
from datetime import date

from turnero.stats import summary

from central import checks
from central.service import CentralError

MAX_DAYS = 400
COUNTED = {"ticket.issued": "issued", "ticket.cancelled": "cancelled", "ticket.transferred": "transferred",
           "ticket.expired": "expired"}


def period(from_text: str | None, to_text: str | None, today: date) -> tuple[str, str]:
    try:
        if not all(checks.is_date(text) for text in (from_text, to_text) if text):
            raise ValueError("not YYYY-MM-DD")
        start = date.fromisoformat(from_text) if from_text else today
        end = date.fromisoformat(to_text) if to_text else (start if from_text else today)
    except ValueError:
        raise CentralError("invalid_date", "Dates look like YYYY-MM-DD.", 400) from None
    if end < start or (end - start).days > MAX_DAYS:
        raise CentralError("invalid_period", f"The period must run forward and span at most {MAX_DAYS} days.", 422)
    return start.isoformat(), end.isoformat()


def sede_kpis(db, code: str, first: str, last: str, target_wait_minutes: int = 30) -> dict:
    counts: dict[str, dict] = {}
    for service, event_type, n in db.all(
            "SELECT service, type, COUNT(DISTINCT id) FROM events WHERE sede = ? AND day >= ? AND day <= ? AND type IN "
            "('ticket.issued', 'ticket.cancelled', 'ticket.transferred', 'ticket.expired') GROUP BY service, type",
            (code, first, last)):
        if event_type == "ticket.transferred":
            continue  # counted from the ticket it left, below
        counts.setdefault(service, {})[COUNTED[event_type]] = n
    # A transfer event's data.ticket is the new ticket; the KPI belongs to the service it left.
    seen: set = set()
    for event_id, data in db.all("SELECT id, data FROM events WHERE sede = ? AND day >= ? AND day <= ? AND "
                                 "type = 'ticket.transferred' ORDER BY epoch, seq", (code, first, last)):
        if event_id in seen:
            continue
        seen.add(event_id)
        left = json.loads(data).get("from")
        origin = left.get("service") if isinstance(left, dict) else None
        bucket = counts.setdefault(origin if isinstance(origin, str) else None, {})
        bucket["transferred"] = bucket.get("transferred", 0) + 1

    groups: dict[str, dict] = {}
    counters: dict[str, dict] = {}
    target = target_wait_minutes * 60
    seen = set()
    for event_id, epoch, seq, service, counter, outcome, wait, served in db.all(
            "SELECT event_id, epoch, seq, service, counter, outcome, wait_seconds, service_seconds FROM attentions "
            "WHERE sede = ? AND day >= ? AND day <= ? ORDER BY epoch, seq", (code, first, last)):
        key = event_id if event_id is not None else (epoch, seq)
        if key in seen:
            continue  # the same event, sent again under another epoch
        seen.add(key)
        for table, key in ((groups, service), (counters, counter)):
            bucket = table.setdefault(key, _empty())
            if outcome == "no_show":
                bucket["no_shows"] += 1
                continue
            bucket["served"] += 1
            bucket["waits"].append(wait)
            bucket["service_times"].append(served)
            bucket["within"] += wait is not None and wait <= target
    services = sorted(set(counts) | set(groups), key=lambda s: str(s))
    rows = [dict(code=s, **_render(groups.get(s, _empty())), **_closed(counts.get(s, {}))) for s in services]
    everything = _merge(groups.values())
    return {
        "sede": code, "from": first, "to": last, "target_wait_minutes": target_wait_minutes,
        "totals": {**_render(everything), **_closed(_sum_counts(counts.values()))},
        "services": rows,
        "counters": [dict(id=key, **_render(bucket))
                     for key, bucket in sorted(counters.items(), key=lambda item: str(item[0]))],
    }


def national(db, first: str, last: str, target_wait_minutes: int = 30) -> dict:
    from central.service import list_sedes

    sedes = []
    for sede in list_sedes(db):
        kpis = sede_kpis(db, sede["code"], first, last, target_wait_minutes)
        sedes.append({**sede, "totals": kpis["totals"]})
    keys = ("issued", "served", "no_shows", "cancelled", "transferred", "expired")
    totals = {key: sum(s["totals"][key] for s in sedes) for key in keys}
    return {"from": first, "to": last, "sedes": sedes, "totals": totals, "target_wait_minutes": target_wait_minutes}


def _empty():
    return {"served": 0, "no_shows": 0, "waits": [], "service_times": [], "within": 0}


def _merge(buckets):
    out = _empty()
    for bucket in buckets:
        out["served"] += bucket["served"]
        out["no_shows"] += bucket["no_shows"]
        out["waits"] += bucket["waits"]
        out["service_times"] += bucket["service_times"]
        out["within"] += bucket["within"]
    return out


def _render(bucket) -> dict:
    return {"served": bucket["served"], "no_shows": bucket["no_shows"],
            "wait_seconds": summary(bucket["waits"]), "service_seconds": summary(bucket["service_times"]),
            "within_target_share": round(bucket["within"] / bucket["served"], 4) if bucket["served"] else None}


def _closed(counts: dict) -> dict:
    return {key: counts.get(key, 0) for key in ("issued", "cancelled", "transferred", "expired")}


def _sum_counts(all_counts) -> dict:
    out: dict = {}
    for counts in all_counts:
        for key, n in counts.items():
            out[key] = out.get(key, 0) + n
    return out
