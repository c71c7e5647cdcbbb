"""Report figures as rows: the page's tables and the CSV export are drawn from the same rows, so
they always agree. Also the monthly indicator table (indicator, baseline, target, achieved, progress).
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from turnero.errors import DomainError
from turnero.i18n import translate
from turnero.stats import compute_stats

# (column key, catalog key of its heading)
COLUMNS = (
    ("section", "counter.reports.col_section"), ("key", "counter.reports.col_key"),
    ("name", "counter.reports.col_name"), ("issued", "counter.reports.col_issued"),
    ("served", "counter.reports.col_served"), ("no_shows", "counter.reports.col_no_shows"),
    ("cancelled", "counter.reports.col_cancelled"), ("transferred", "counter.reports.col_transferred"),
    ("wait_median", "counter.reports.col_wait_median"), ("wait_p90", "counter.reports.col_wait_p90"),
    ("wait_max", "counter.reports.col_wait_max"), ("service_median", "counter.reports.col_service_median"),
    ("service_p90", "counter.reports.col_service_p90"), ("service_max", "counter.reports.col_service_max"),
    ("within_target", "counter.reports.col_within_target"),
    ("preferential", "counter.reports.col_preferential"),
    ("preferential_wait", "counter.reports.col_preferential_wait"),
)
SECTIONS = {"totals": "total", "services": "servicio", "counters": "ventanilla", "staff": "personal"}


def minutes(seconds) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


def percent(share) -> str:
    return "" if share is None else f"{share * 100:.1f}"


def figure_row(section: str, key: str, name: str, entry: dict) -> dict:
    return {
        "section": SECTIONS[section], "key": key, "name": name,
        "issued": "" if entry.get("issued") is None else str(entry["issued"]),
        "served": str(entry["served"]), "no_shows": str(entry["no_shows"]),
        "cancelled": str(entry["cancelled"]), "transferred": str(entry["transferred"]),
        "wait_median": minutes(entry["wait_seconds"]["median"]), "wait_p90": minutes(entry["wait_seconds"]["p90"]),
        "wait_max": minutes(entry["wait_seconds"]["max"]),
        "service_median": minutes(entry["service_seconds"]["median"]),
        "service_p90": minutes(entry["service_seconds"]["p90"]),
        "service_max": minutes(entry["service_seconds"]["max"]),
        "within_target": percent(entry["within_target_share"]),
        # Issued tickets where known (services, totals), else the share of those served.
        "preferential": percent(entry.get("preferential_issued_share", entry.get("preferential_share"))
                                if section in ("services", "totals") else entry["preferential_share"]),
        "preferential_wait": minutes(entry["preferential_wait_seconds"]["median"]),
    }


def report_rows(stats: dict) -> dict:
    """{"totals": [row], "services": [rows], "counters": [rows], "staff": [rows]}."""
    totals = dict(stats["totals"])
    totals["preferential_issued_share"] = totals["preferential_share"]
    return {
        "totals": [figure_row("totals", "", translate("counter.reports.total"), totals)],
        "services": [figure_row("services", entry["code"], entry["name"], entry) for entry in stats["services"]],
        "counters": [figure_row("counters", str(entry["id"]), entry["name"] or str(entry["id"]), entry)
                     for entry in stats["counters"]],
        "staff": [figure_row("staff", str(entry["username"]), str(entry["username"]), entry)
                  for entry in stats["staff"]],
    }


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A text cell a spreadsheet would run as a formula (a counter or user named "=HYPERLINK(...)")
    is written with a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter:
    def __init__(self, out):
        self.writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row):
        self.writer.writerow([safe_cell(value) for value in row])


def csv_text(stats: dict, headings: list[str], staffing: dict | None = None) -> str:
    """The report as CSV (UTF-8 with BOM for spreadsheet programs, comma separated); with the
    staffing suggestion (turnero.staffing) as a last table: one row per weekday and hour."""
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow(["periodo", stats["from"], stats["to"]])
    writer.writerow(headings)
    rows = report_rows(stats)
    for section in ("totals", "services", "counters", "staff"):
        for row in rows[section]:
            writer.writerow([row[key] for key, _ in COLUMNS])
    writer.writerow([])
    writer.writerow(["hora", "llegadas"])
    for hour, count in enumerate(stats["arrivals_by_hour"]):
        writer.writerow([f"{hour:02d}", count])
    writer.writerow([])
    writer.writerow(["fecha", "emitidos", "atendidos", "no_se_presentaron"])
    for day in stats["daily"]:
        writer.writerow([day["date"], day["issued"], day["served"], day["no_shows"]])
    if staffing is not None:
        writer.writerow([])
        writer.writerow(["dia_semana", "hora", "llegadas_por_hora", "ventanillas_sugeridas", "dias_observados"])
        for day in staffing["weekdays"]:
            for hour in sorted(day["slots"]):
                slot = day["slots"][hour]
                writer.writerow([WEEKDAYS[day["weekday"]], f"{hour:02d}", slot["arrivals"], slot["counters"],
                                 day["days"]])
    return "\ufeff" + out.getvalue()


# Fixed column values (not UI text): a spreadsheet reads the same words whatever the page's language.
WEEKDAYS = ("lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo")


FIRST_YEAR, LAST_YEAR = 2000, 2199  # a month and the one before it must both be real calendar months


def parse_month(text: str | None, today: date) -> date:
    if not text:
        return today.replace(day=1)
    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise DomainError("invalid_date", "El mes debe tener la forma AAAA-MM.", 400) from None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise DomainError("invalid_date", f"El mes debe estar entre {FIRST_YEAR} y {LAST_YEAR}.", 422)
    return first


def month_bounds(first: date) -> tuple[date, date]:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def indicators(engine, month_text: str | None) -> dict:
    """The monthly indicator table. Baseline: the month before; target: ``[reports]`` settings."""
    goals = engine.settings.reports
    first = parse_month(month_text, engine.clock.local().date())
    start, end = month_bounds(first)
    before_start, before_end = month_bounds((first - timedelta(days=1)).replace(day=1))
    now = compute_stats(engine, start.isoformat(), end.isoformat())
    before = compute_stats(engine, before_start.isoformat(), before_end.isoformat())

    def no_show_share(stats):
        seen = stats["totals"]["served"] + stats["totals"]["no_shows"]
        return stats["totals"]["no_shows"] / seen if seen else None

    def median_minutes(stats, key):
        value = stats["totals"][key]["median"]
        return None if value is None else value / 60

    rows = [
        _indicator("counter.summary.ind_issued", "", before["totals"]["issued"], None, now["totals"]["issued"], True),
        _indicator("counter.summary.ind_served", "", before["totals"]["served"], goals["served_goal_month"] or None,
                   now["totals"]["served"], True),
        _indicator("counter.summary.ind_within", "%", _pct(before["totals"]["within_target_share"]),
                   _pct(goals["within_target_goal"]), _pct(now["totals"]["within_target_share"]), True),
        _indicator("counter.summary.ind_median_wait", "min", median_minutes(before, "wait_seconds"),
                   goals["median_wait_goal_minutes"] or None, median_minutes(now, "wait_seconds"), False),
        _indicator("counter.summary.ind_no_show", "%", _pct(no_show_share(before)), _pct(goals["no_show_goal"]),
                   _pct(no_show_share(now)), False),
        _indicator("counter.summary.ind_preferential", "%", _pct(before["totals"]["preferential_share"]), None,
                   _pct(now["totals"]["preferential_share"]), True),
        _indicator("counter.summary.ind_preferential_wait", "min", median_minutes(before, "preferential_wait_seconds"),
                   goals["preferential_wait_goal_minutes"] or None,
                   median_minutes(now, "preferential_wait_seconds"), False),
        _indicator("counter.summary.ind_service_time", "min", median_minutes(before, "service_seconds"), None,
                   median_minutes(now, "service_seconds"), None),
    ]
    return {"month": first.strftime("%Y-%m"), "from": start.isoformat(), "to": end.isoformat(),
            "baseline_month": before_start.strftime("%Y-%m"), "rows": rows, "stats": now}


def _pct(share):
    return None if share is None else share * 100


def _indicator(key, unit, baseline, target, achieved, higher_is_better) -> dict:
    """Progress toward the target, capped at 100 %: achieved/target when more is better,
    target/achieved when less is better (a zero achieved against a lower-is-better target is 100 %)."""
    progress = None
    if target is not None and achieved is not None and higher_is_better is not None:
        if higher_is_better:
            progress = 100.0 if target == 0 else min(100.0, achieved / target * 100)
        else:
            progress = 100.0 if achieved <= target else target / achieved * 100
    return {"key": key, "unit": unit, "baseline": _round(baseline), "target": _round(target),
            "achieved": _round(achieved), "progress": _round(progress)}


def _round(value):
    return None if value is None else round(value, 1)
