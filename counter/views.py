"""Pages: /counter (console), /supervisor (live view), /reports (figures, CSV, monthly summary).

Views only gather settings and call plain functions (turnero.stats, counter.reports); every
action from the pages goes through the JSON API.
"""
from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request

from config import PRIORITY_CLASSES
from counter import charts
from counter.reports import COLUMNS, csv_text, indicators, report_rows
from turnero.web.auth import box
from turnero.documents import DOCUMENT_TYPES
from turnero.i18n import messages, translate
from turnero.web.offload import offload
from turnero.web.pages import staff_page
from turnero.staffing import suggestion
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
        "user": {"username": g.principal.name, "role": g.principal.role},
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


@blueprint.get("/reports")
@staff_page("supervisor")
def reports():
    stats = offload(compute_stats, box().engine, request.args.get("from") or None, request.args.get("to") or None)
    rows = report_rows(stats)
    t = translate
    hours = [f"{hour:02d}" for hour in range(24)]
    first_hour = next((h for h, n in enumerate(stats["arrivals_by_hour"]) if n), 7)
    last_hour = max((h for h, n in enumerate(stats["arrivals_by_hour"]) if n), default=18)
    span = slice(min(first_hour, 7), max(last_hour, 18) + 1)
    services = stats["services"]
    chart_list = [
        charts.bar_chart(t("counter.reports.chart_arrivals"), hours[span],
                         [(t("counter.reports.col_issued"), stats["arrivals_by_hour"][span])]),
        charts.bar_chart(t("counter.reports.chart_waits"), [s["code"] for s in services],
                         [(t("counter.reports.col_wait_median"),
                           [(s["wait_seconds"]["median"] or 0) / 60 for s in services]),
                          (t("counter.reports.col_wait_p90"), [(s["wait_seconds"]["p90"] or 0) / 60 for s in services]),
                          (t("counter.reports.target"), [s["target_wait_minutes"] or 0 for s in services])],
                         unit=" min"),
        charts.bar_chart(t("counter.reports.chart_outcomes"), [s["code"] for s in services],
                         [(t("counter.reports.col_served"), [s["served"] for s in services]),
                          (t("counter.reports.col_no_shows"), [s["no_shows"] for s in services]),
                          (t("counter.reports.col_cancelled"), [s["cancelled"] for s in services]),
                          (t("counter.reports.col_transferred"), [s["transferred"] for s in services])]),
    ]
    if stats["days"] > 1:
        chart_list.append(charts.bar_chart(
            t("counter.reports.chart_daily"), [d["date"][5:] for d in stats["daily"]],
            [(t("counter.reports.col_issued"), [d["issued"] for d in stats["daily"]]),
             (t("counter.reports.col_served"), [d["served"] for d in stats["daily"]])]))
    staffing = offload(suggestion, box().engine, *parse_period(box().engine.clock, stats["from"], stats["to"]))
    return render_template("counter/reports.html", stats=stats, rows=rows, columns=COLUMNS, charts=chart_list,
                           month=stats["from"][:7], staffing=staffing)


@blueprint.get("/reports/export.csv")
@staff_page("supervisor")
def export_csv():
    stats = offload(compute_stats, box().engine, request.args.get("from") or None, request.args.get("to") or None)
    staffing = offload(suggestion, box().engine, *parse_period(box().engine.clock, stats["from"], stats["to"]))
    body = csv_text(stats, [translate(key) for _, key in COLUMNS], staffing)
    filename = f"turnero-{box().settings.sede['code']}-{stats['from']}-{stats['to']}.csv"
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blueprint.get("/reports/summary")
@staff_page("supervisor")
def summary():
    table = offload(indicators, box().engine, request.args.get("month"))
    return render_template("counter/summary.html", table=table, sede=box().settings.sede,
                           generated=box().engine.clock.local().strftime("%Y-%m-%d %H:%M"))
