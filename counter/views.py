"""Pages: /counter (console), /supervisor (live view), /reports (figures, CSV, monthly summary).

Views only gather settings and call plain functions (turnero.stats, counter.reports); every
action from the pages goes through the JSON API.
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, g, render_template, request

from config import PRIORITY_CLASSES
from counter import charts
from counter.reports import COLUMNS, COUNT_KEYS, TIME_KEYS, csv_text, indicators, report_rows, tickets_csv
from turnero.web.auth import box
from turnero.documents import DOCUMENT_TYPES
from turnero.i18n import messages, translate
from turnero.web.offload import offload
from turnero.web.pages import staff_page
from turnero.stats import compute_stats, parse_period

blueprint = Blueprint("counter", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/counter-static")


def _services_config() -> dict:
    """What the pages need of each service: names, target wait and the result-code catalog."""
    settings = box().settings
    return {code: {"code": code, "name": service.name(), "label": box().engine.views.service_label(code),
                   "target_wait_minutes": service.target_wait_minutes, "result_codes": service.result_codes,
                   "discreet": service.discreet}
            for code, service in settings.services.items()}


def _page_config() -> dict:
    settings = box().settings
    return {
        "user": {"username": g.principal.name, "role": g.principal.role,
                 "languages": g.principal.get("languages") or []},
        "services": _services_config(),
        "counters": [{"id": c.id, "name": c.name, "services": list(c.services)} for c in settings.counters.values()],
        "console": dict(settings.console),
        "priority_classes": list(PRIORITY_CLASSES),
        "document_types": list(DOCUMENT_TYPES),
        "languages": list(settings.sede["languages"]),  # what a staff-issued ticket may be in
        "messages": messages("es", "counter."),
    }


@blueprint.get("/counter")
@staff_page("staff")
def console():
    return render_template("counter/console.html", config=_page_config())


@blueprint.get("/supervisor")
@staff_page("supervisor")
def supervisor():
    return render_template("counter/supervisor.html", config=_page_config())


def _presets(today: date) -> list[tuple[str, date, date]]:
    """(catalog key, from, to) of the period shortcuts, in the sede's local days."""
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    return [("counter.reports.preset_today", today, today),
            ("counter.reports.preset_yesterday", today - timedelta(days=1), today - timedelta(days=1)),
            ("counter.reports.preset_week", today - timedelta(days=today.weekday()), today),
            ("counter.reports.preset_month", month_start, today),
            ("counter.reports.preset_last_month", last_month_end.replace(day=1), last_month_end)]


def _report_charts(stats: dict) -> list:
    t = translate
    hours = [f"{hour:02d}" for hour in range(24)]
    first_hour = next((h for h, n in enumerate(stats["arrivals_by_hour"]) if n), 7)
    last_hour = max((h for h, n in enumerate(stats["arrivals_by_hour"]) if n), default=18)
    span = slice(min(first_hour, 7), max(last_hour, 18) + 1)
    services = stats["services"]
    chart_list = []
    if stats["days"] > 1:
        days = [day_month(d["date"]) for d in stats["daily_waits"]]
        chart_list.append(charts.line_chart(
            t("counter.reports.chart_trend"), days,
            [(t("counter.reports.col_wait_median"), [_minutes(d["median"]) for d in stats["daily_waits"]]),
             (t("counter.reports.col_wait_p90"), [_minutes(d["p90"]) for d in stats["daily_waits"]])],
            unit=" min", target=box().settings.reports["median_wait_goal_minutes"] or None,
            target_label=t("counter.reports.target_median")))
    chart_list += [
        charts.bar_chart(t("counter.reports.chart_waits"), [s["code"] for s in services],
                         [(t("counter.reports.col_wait_median"),
                           [_minutes(s["wait_seconds"]["median"]) for s in services]),
                          (t("counter.reports.col_wait_p90"), [_minutes(s["wait_seconds"]["p90"]) for s in services])],
                         unit=" min", target_label=t("counter.reports.target"),
                         marks=[s["target_wait_minutes"] for s in services]),
        charts.bar_chart(t("counter.reports.chart_arrivals"), hours[span],
                         [(t("counter.reports.col_issued"), stats["arrivals_by_hour"][span])]),
        charts.bar_chart(t("counter.reports.chart_outcomes"), [s["code"] for s in services],
                         [(t("counter.reports.col_served"), [s["served"] for s in services]),
                          (t("counter.reports.col_no_shows"), [s["no_shows"] for s in services]),
                          (t("counter.reports.col_referred"), [s["referred"] for s in services]),
                          (t("counter.reports.col_transferred"), [s["transferred"] for s in services])]),
    ]
    if stats["days"] > 1:
        chart_list.append(charts.bar_chart(
            t("counter.reports.chart_daily"), [day_month(d["date"]) for d in stats["daily"]],
            [(t("counter.reports.col_issued"), [d["issued"] for d in stats["daily"]]),
             (t("counter.reports.col_served"), [d["served"] for d in stats["daily"]])]))
    return chart_list


def _minutes(seconds):
    return None if seconds is None else seconds / 60


def day_month(iso: str) -> str:
    """A report's day label, Peruvian style (dd/mm)."""
    return f"{iso[8:10]}/{iso[5:7]}"


def full_day(iso: str) -> str:
    return f"{day_month(iso)}/{iso[:4]}"


def month_year(iso_month: str) -> str:
    return f"{iso_month[5:7]}/{iso_month[:4]}"


def _heatmap(stats: dict) -> dict:
    grid = stats["arrivals_by_weekday_hour"]
    hours = [h for h in range(24) if any(row[h] for row in grid)]
    top = max((max(row) for row in grid), default=0)
    return {"hours": hours, "rows": [(weekday, [(row[h], charts.heat_level(row[h], top)) for h in hours])
                                     for weekday, row in enumerate(grid) if any(row)]}


def _period_args() -> tuple[str | None, str | None]:
    """The requested period's ``from`` and ``to`` as given (None when absent or empty)."""
    return request.args.get("from") or None, request.args.get("to") or None


def _period_figures() -> tuple[dict, dict]:
    """The requested period's KPIs and staffing suggestion, from one walk over its days."""
    stats = offload(compute_stats, box().engine, *_period_args(), staffing=True)
    return stats, stats.pop("staffing")


@blueprint.get("/reports")
@staff_page("supervisor")
def reports():
    stats, staffing = _period_figures()
    settings = box().settings
    today = box().engine.clock.local().date()
    presets = [{"label": key, "from": first.isoformat(), "to": last.isoformat(),
                "current": (first.isoformat(), last.isoformat()) == (stats["from"], stats["to"])}
               for key, first, last in _presets(today)]
    languages = stats["languages"] if any(entry["language"] != "es" for entry in stats["languages"]) else []
    empty = not (stats["totals"]["issued"] or stats["totals"]["served"] or stats["totals"]["no_shows"])
    return render_template(
        "counter/reports.html", stats=stats, rows=report_rows(stats), columns=dict(COLUMNS), count_keys=COUNT_KEYS,
        time_keys=TIME_KEYS, charts=[] if empty else _report_charts(stats), month=stats["from"][:7],
        staffing=staffing, presets=presets, heatmap=_heatmap(stats), languages=languages,
        services={code: service.name() for code, service in settings.services.items()},
        period=(full_day(stats["from"]), full_day(stats["to"])), empty=empty)


@blueprint.get("/reports/export.csv")
@staff_page("supervisor")
def export_csv():
    stats, staffing = _period_figures()
    body = csv_text(stats, [translate(key) for _, key in COLUMNS], staffing)
    return _csv(body, f"turnero-{box().settings.sede['code']}-{stats['from']}-{stats['to']}.csv")


@blueprint.get("/reports/tickets.csv")
@staff_page("supervisor")
def export_tickets_csv():
    first, last = parse_period(box().engine.clock, *_period_args())
    body = offload(tickets_csv, box().engine, first, last)
    return _csv(body, f"turnero-{box().settings.sede['code']}-turnos-{first.isoformat()}-{last.isoformat()}.csv")


def _csv(body: str, filename: str) -> Response:
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blueprint.get("/reports/summary")
@staff_page("supervisor")
def summary():
    table = offload(indicators, box().engine, request.args.get("month"))
    return render_template("counter/summary.html", table=table, sede=box().settings.sede,
                           month=month_year(table["month"]), baseline_month=month_year(table["baseline_month"]),
                           period=(full_day(table["from"]), full_day(table["to"])),
                           generated=box().engine.clock.local().strftime("%d/%m/%Y %H:%M"))
