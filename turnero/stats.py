"""KPIs over a period: issued, served, no-shows, waits and service times, share within target."""
from __future__ import annotations

import math
import statistics
from datetime import date

from turnero.errors import DomainError

MAX_DAYS = 400


def percentile(sorted_values: list, share: float):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]


def summary(values: list) -> dict:
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"count": 0, "median": None, "p90": None, "max": None}
    return {"count": len(values), "median": round(statistics.median(values), 1),
            "p90": round(percentile(values, 0.9), 1), "max": round(values[-1], 1)}


def parse_period(clock, from_text: str | None, to_text: str | None) -> tuple[date, date]:
    today = clock.local().date()
    try:
        start = date.fromisoformat(from_text) if from_text else today
        end = date.fromisoformat(to_text) if to_text else start if from_text else today
    except ValueError:
        raise DomainError("invalid_date", "Las fechas deben tener la forma AAAA-MM-DD.", 400) from None
    if end < start:
        raise DomainError("invalid_period", "La fecha final es anterior a la inicial.", 422)
    if (end - start).days > MAX_DAYS:
        raise DomainError("invalid_period", f"El periodo no puede pasar de {MAX_DAYS} días.", 422)
    return start, end


def compute_stats(engine, from_text: str | None = None, to_text: str | None = None) -> dict:
    clock, settings = engine.clock, engine.settings
    first, last = parse_period(clock, from_text, to_text)
    start, _ = clock.day_bounds(first)
    _, end = clock.day_bounds(last)
    conn = engine.store.connect()
    offset = clock.local(start).utcoffset().total_seconds()

    issued = {code: 0 for code in settings.services}
    preferential_issued = 0
    arrivals = [0] * 24
    for row in conn.execute(
            "SELECT service, priority IS NOT NULL AS preferential, CAST(strftime('%H', issued_at + ?, 'unixepoch')"
            " AS INTEGER) AS hour, COUNT(*) AS n FROM tickets WHERE issued_at >= ? AND issued_at < ?"
            " AND transferred_from IS NULL GROUP BY 1, 2, 3", (offset, start, end)):
        issued[row["service"]] = issued.get(row["service"], 0) + row["n"]
        arrivals[row["hour"]] += row["n"]
        preferential_issued += row["n"] if row["preferential"] else 0
    closed = {}
    for row in conn.execute("SELECT service, status, COUNT(*) AS n FROM tickets WHERE finished_at >= ? AND"
                            " finished_at < ? AND status IN ('cancelled', 'transferred', 'expired') GROUP BY 1, 2",
                            (start, end)):
        closed.setdefault(row["service"], {})[row["status"]] = row["n"]

    groups = {"services": {}, "counters": {}, "staff": {}}
    preferential_waits = []
    for row in conn.execute("SELECT service, counter, staff, priority, outcome, wait_seconds, service_seconds"
                            " FROM attentions WHERE ended_at >= ? AND ended_at < ?", (start, end)):
        target = settings.services[row["service"]].target_wait_minutes * 60 \
            if row["service"] in settings.services else None
        for kind, key in (("services", row["service"]), ("counters", row["counter"]), ("staff", row["staff"])):
            bucket = groups[kind].setdefault(key, {"served": 0, "no_shows": 0, "referred": 0, "waits": [],
                                                   "service_times": [], "within": 0})
            if row["outcome"] == "no_show":
                bucket["no_shows"] += 1
                continue
            bucket["served"] += 1
            bucket["referred"] += row["outcome"] == "referred"
            bucket["waits"].append(row["wait_seconds"])
            bucket["service_times"].append(row["service_seconds"])
            if target is not None and row["wait_seconds"] is not None and row["wait_seconds"] <= target:
                bucket["within"] += 1
        if row["priority"] and row["outcome"] != "no_show":
            preferential_waits.append(row["wait_seconds"])

    def render(kind, key, bucket):
        out = {"served": bucket["served"], "no_shows": bucket["no_shows"],
               "wait_seconds": summary(bucket["waits"]), "service_seconds": summary(bucket["service_times"]),
               "within_target_share": round(bucket["within"] / bucket["served"], 4) if bucket["served"] else None}
        if kind == "services":
            counts = closed.get(key, {})
            out.update({"code": key, "issued": issued.get(key, 0), "cancelled": counts.get("cancelled", 0),
                        "transferred": counts.get("transferred", 0), "expired": counts.get("expired", 0),
                        "target_wait_minutes": settings.services[key].target_wait_minutes
                        if key in settings.services else None})
        else:
            out["id" if kind == "counters" else "username"] = key
        return out

    empty = {"served": 0, "no_shows": 0, "referred": 0, "waits": [], "service_times": [], "within": 0}
    services = [render("services", code, groups["services"].get(code, empty)) for code in
                list(settings.services) + [c for c in groups["services"] if c not in settings.services]]
    all_buckets = list(groups["services"].values())
    total_served = sum(b["served"] for b in all_buckets)
    total_issued = sum(issued.values())
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "totals": {
            "issued": total_issued, "served": total_served,
            "no_shows": sum(b["no_shows"] for b in all_buckets),
            "cancelled": sum(c.get("cancelled", 0) for c in closed.values()),
            "transferred": sum(c.get("transferred", 0) for c in closed.values()),
            "wait_seconds": summary([w for b in all_buckets for w in b["waits"]]),
            "service_seconds": summary([s for b in all_buckets for s in b["service_times"]]),
            "within_target_share": round(sum(b["within"] for b in all_buckets) / total_served, 4)
            if total_served else None,
            "preferential_share": round(preferential_issued / total_issued, 4) if total_issued else None,
            "preferential_wait_seconds": summary(preferential_waits),
        },
        "services": services,
        "counters": [render("counters", key, bucket) for key, bucket in sorted(groups["counters"].items(),
                                                                               key=lambda item: str(item[0]))],
        "staff": [render("staff", key, bucket) for key, bucket in sorted(groups["staff"].items(),
                                                                         key=lambda item: str(item[0]))],
        "arrivals_by_hour": arrivals,
        "days": (last - first).days + 1,
    }

