"""Report figures as rows: the page's tables and the CSV export are drawn from the same rows, so
they always agree. Also the monthly indicator table (indicator, baseline, target, achieved, progress).
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from turnero.errors import DomainError
from turnero.i18n import translate
from turnero.report_breakdowns import ticket_rows
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
    ("referred", "counter.reports.col_referred"),
)
# The page splits each section's figures in two narrower tables (the office screen is 1366 px wide).
COUNT_KEYS = ("name", "issued", "served", "no_shows", "referred", "transferred", "cancelled", "within_target",
              "preferential")
TIME_KEYS = ("name", "wait_median", "wait_p90", "wait_max", "service_median", "service_p90", "service_max",
             "preferential_wait")
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
        "referred": str(entry["referred"]),
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
    _breakdown_sections(writer, stats)
    if staffing is not None:
        writer.writerow([])
        writer.writerow(["dia_semana", "hora", "llegadas_por_hora", "ventanillas_sugeridas", "dias_observados"])
        for day in staffing["weekdays"]:
            for hour in sorted(day["slots"]):
                slot = day["slots"][hour]
                writer.writerow([WEEKDAYS[day["weekday"]], f"{hour:02d}", slot["arrivals"], slot["counters"],
                                 day["days"]])
    return "\ufeff" + out.getvalue()


OUTCOME_WORDS = {"resolved": "resuelto", "pending": "pendiente", "referred": "derivado", "no_show": "no_se_presento"}


def _breakdown_sections(writer, stats: dict) -> None:
    """The page's breakdowns as further tables, each after a blank row, headed by fixed column
    names (like the tables above). Names (counters, matters, result labels) may come from a
    sede's settings: the writer neutralises any that a spreadsheet would run as a formula."""
    def table(heading: list, rows) -> None:
        writer.writerow([])
        writer.writerow(heading)
        for row in rows:
            writer.writerow(row)

    # "derivado" is a referral to another entity; "transferido" a transfer to another service of the sede.
    outcomes = [(OUTCOME_WORDS[outcome], count) for outcome, count in stats["outcomes"].items()]
    table(["resultado", "atenciones"], outcomes + [("transferido", stats["totals"]["transferred"])])
    table(["materia", "atenciones"], [(entry["matter"] or "", entry["count"]) for entry in stats["matters"]])
    table(["servicio", "codigo_resultado", "descripcion", "atenciones"],
          [(entry["service"], entry["result"] or "", entry["label"] or "", entry["count"])
           for entry in stats["results"]])
    for kind, name in (("counters", "ventanilla"), ("staff", "personal")):
        table([name, "nombre", "abierta_min", "en_pausa_min", "libre_min"],
              [(entry["id"], entry.get("name") or entry["id"], minutes(entry["open_seconds"]),
                minutes(entry["paused_seconds"]), minutes(entry["idle_seconds"]))
               for entry in stats["counter_time"][kind]])
    ratings = stats["ratings"]
    table(["encuesta_servicio", "respuestas", "promedio", "puntaje_1", "puntaje_2", "puntaje_3", "puntaje_4",
           "puntaje_5"],
          [(entry["service"], entry["count"], "" if entry["mean"] is None else entry["mean"], *entry["distribution"])
           for entry in ratings["services"] + [dict(ratings["total"], service="total")]])
    table(["idioma", "emitidos", "atendidos", "espera_mediana_min", "espera_p90_min"],
          [(entry["language"], entry["issued"], entry["served"], minutes(entry["wait_seconds"]["median"]),
            minutes(entry["wait_seconds"]["p90"])) for entry in stats["languages"]])


# The per-ticket CSV: (column, catalog key of its heading). No personal data: the rows come from
# turnero.report_breakdowns.ticket_rows, which leaves out what turnero.audiences lists as personal.
TICKET_COLUMNS = (
    ("code", "counter.reports.tcol_code"), ("service", "counter.reports.tcol_service"),
    ("priority", "counter.reports.tcol_priority"), ("language", "counter.reports.tcol_language"),
    ("channel", "counter.reports.tcol_channel"), ("issued", "counter.reports.tcol_issued"),
    ("called", "counter.reports.tcol_called"), ("started", "counter.reports.tcol_started"),
    ("ended", "counter.reports.tcol_ended"), ("wait", "counter.reports.tcol_wait"),
    ("service_time", "counter.reports.tcol_service_time"), ("status", "counter.reports.tcol_status"),
    ("outcome", "counter.reports.tcol_outcome"), ("result", "counter.reports.tcol_result"),
    ("result_label", "counter.reports.tcol_result_label"), ("counter", "counter.reports.tcol_counter"),
    ("staff", "counter.reports.tcol_staff"),
)


def tickets_csv(engine, first: date, last: date) -> str:
    """One row per ticket issued in the period, UTF-8 with BOM like the summary CSV."""
    clock, services = engine.clock, engine.settings.services
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow([translate(key) for _, key in TICKET_COLUMNS])

    def local(timestamp):
        return "" if timestamp is None else clock.local(timestamp).strftime("%d/%m/%Y %H:%M:%S")

    for ticket in ticket_rows(engine, first, last):
        config = services.get(ticket["service"])
        result = ticket.get("attention_result")
        writer.writerow([
            ticket["code"], config.name() if config else ticket["service"], ticket["priority"] or "",
            ticket["language"], ticket["channel"], local(ticket["issued_at"]),
            local(ticket.get("attention_called_at") or ticket["called_at"]),
            local(ticket.get("attention_started_at") or ticket["started_at"]),
            local(ticket.get("attention_ended_at") or ticket["finished_at"]),
            minutes(ticket.get("attention_wait_seconds")), minutes(ticket.get("attention_service_seconds")),
            ticket["status"], ticket.get("attention_outcome") or "", result or "",
            (config.result_codes.get(result, "") if config and result else ""),
            engine.views.counter_name(ticket.get("attention_counter") or ticket["counter"])
            if (ticket.get("attention_counter") or ticket["counter"]) else "",
            ticket.get("attention_staff") or ticket["staff"] or ""])
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


# (key, catalog key, unit, source, figure of a month's stats, goal key used as expected by default)
INDICATORS = (
    ("issued", "counter.summary.ind_issued", "", "tickets", lambda s: s["totals"]["issued"], None),
    ("served", "counter.summary.ind_served", "", "attentions", lambda s: s["totals"]["served"], "served_goal_month"),
    ("within_target", "counter.summary.ind_within", "%", "attentions",
     lambda s: _pct(s["totals"]["within_target_share"]), "within_target_goal"),
    ("median_wait", "counter.summary.ind_median_wait", "min", "attentions",
     lambda s: _median_minutes(s, "wait_seconds"), "median_wait_goal_minutes"),
    ("no_show", "counter.summary.ind_no_show", "%", "attentions", lambda s: _pct(_no_show_share(s)), "no_show_goal"),
    ("preferential", "counter.summary.ind_preferential", "%", "tickets",
     lambda s: _pct(s["totals"]["preferential_share"]), None),
    ("preferential_wait", "counter.summary.ind_preferential_wait", "min", "attentions",
     lambda s: _median_minutes(s, "preferential_wait_seconds"), "preferential_wait_goal_minutes"),
    ("service_time", "counter.summary.ind_service_time", "min", "attentions",
     lambda s: _median_minutes(s, "service_seconds"), None),
    ("survey_mean", "counter.summary.ind_survey_mean", "1–5", "survey", lambda s: s["ratings"]["total"]["mean"],
     None),
)


def _no_show_share(stats):
    seen = stats["totals"]["served"] + stats["totals"]["no_shows"]
    return stats["totals"]["no_shows"] / seen if seen else None


def _median_minutes(stats, key):
    value = stats["totals"][key]["median"]
    return None if value is None else value / 60


def indicators(engine, month_text: str | None) -> dict:
    """The monthly indicator table, by the ministry's method (see :func:`progress`). Each
    indicator's code, baseline and expected value come from ``[reports.indicators.<key>]``; without
    a baseline, the month before is the baseline; without an expected value, the ``*_goal*`` key."""
    settings = engine.settings.reports
    first = parse_month(month_text, engine.clock.local().date())
    start, end = month_bounds(first)
    before_start, before_end = month_bounds((first - timedelta(days=1)).replace(day=1))
    now = compute_stats(engine, start.isoformat(), end.isoformat())
    before = compute_stats(engine, before_start.isoformat(), before_end.isoformat())
    rows = []
    for number, (key, label, unit, source, figure, goal_key) in enumerate(INDICATORS, 1):
        configured = (settings.get("indicators") or {}).get(key, {})
        expected = configured.get("expected")
        if expected is None and goal_key:
            goal = settings[goal_key]
            expected = (goal * 100 if unit == "%" else goal) or None  # 0 = no goal (the old keys' rule)
        baseline_given = configured.get("baseline") is not None
        baseline = configured["baseline"] if baseline_given else figure(before)
        achieved = figure(now)
        value, reason = progress(baseline, expected, achieved)
        rows.append({"key": label, "indicator": key, "code": configured.get("code") or f"IND-{number:02d}",
                     "unit": unit, "source": f"counter.summary.source_{source}",
                     "baseline": _round(baseline), "baseline_from": "config" if baseline_given else "previous_month",
                     "target": _round(expected), "achieved": _round(achieved), "progress": _round(value),
                     "reason": reason})
    return {"month": first.strftime("%Y-%m"), "from": start.isoformat(), "to": end.isoformat(),
            "baseline_month": before_start.strftime("%Y-%m"), "rows": rows, "stats": now}


def _pct(share):
    return None if share is None else share * 100


def progress(baseline, expected, achieved) -> tuple[float | None, str | None]:
    """Avance % = (obtenido - línea base) / (esperado - línea base) x 100, not capped (past 100 %
    the goal was beaten; below 0 the figure went the wrong way). A lower-is-better indicator has
    its expected value below the baseline, so the sign works out the same. Returns (value, why
    there is none): ``no_data``, ``no_target``, ``same_as_baseline`` (nothing to divide by)."""
    if expected is None:
        return None, "counter.summary.why_no_target"
    if baseline is None or achieved is None:
        return None, "counter.summary.why_no_data"
    if expected == baseline:
        return None, "counter.summary.why_same_as_baseline"
    return (achieved - baseline) / (expected - baseline) * 100, None


def _round(value):
    return None if value is None else round(value, 1)
