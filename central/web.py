"""HTTP for the central receiver: the sync API the boxes call, and the KPI pages and JSON, which
need a credential (a viewer's, or for one sede's JSON that sede's token); only ``/healthz`` is
public."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for

from central import checks, kpis, languages, service
from central.service import CentralError

bp = Blueprint("central", __name__)


def _db():
    return current_app.extensions["central_db"]


@bp.post("/api/v1/sedes/<code>/events")
def receive_events(code):
    service.authenticate(_db(), code, request.headers.get("Authorization"))
    # Parsed here, not with request.get_json: a body nested too deep for the parser is a 400 too.
    body = checks.parse_json(request.get_data(cache=False))
    if body is None:
        raise CentralError("bad_request", "The body must be JSON.", 400)
    acked = service.ingest(_db(), code, body)
    return jsonify({"acked_seq": acked})


@bp.get("/api/v1/sedes/<code>/appointments")
def send_appointments(code):
    service.authenticate(_db(), code, request.headers.get("Authorization"))
    return jsonify(service.appointments_since(_db(), code, request.args.get("since")))


@bp.get("/api/v1/sedes/<code>/anchor")
def anchor(code):
    """What the central side holds of the sede per epoch (the box's ``audit verify --against-central``)."""
    service.authorize_reader(_db(), request.headers.get("Authorization"), code)
    _known(code)
    return jsonify(service.anchors(_db(), code))


@bp.get("/api/v1/sedes/<code>/kpis")
def kpis_json(code):
    service.authorize_reader(_db(), request.headers.get("Authorization"), code)
    first, last = _sede_period(_known(code))
    return jsonify(kpis.sede_kpis(_db(), code, first, last, current_app.config["TARGET_WAIT_MINUTES"]))


@bp.post("/api/v1/sedes/<code>/languages")
def propose_language(code):
    """A sede proposes a reviewed package (multipart: ``metadata`` JSON and ``package`` file)."""
    service.authenticate(_db(), code, request.headers.get("Authorization"))  # before the body is read
    upload = request.files.get("package")
    answer = languages.propose(_db(), code, request.form.get("metadata"), upload.read() if upload else None)
    return jsonify(answer), 201


@bp.get("/api/v1/languages")
def approved_languages():
    languages.authenticate_any_sede(_db(), request.headers.get("Authorization"))
    return jsonify(languages.approved_since(
        _db(), request.args.get("since"), lambda ident: url_for("central.language_package", ident=ident)))


@bp.get("/api/v1/languages/packages/<ident>")
def language_package(ident):
    languages.authenticate_any_sede(_db(), request.headers.get("Authorization"))
    return Response(languages.approved_blob(_db(), ident), mimetype="application/octet-stream")


@bp.get("/idiomas")
def language_page():
    """Proposals and approved packages, newest first, with what each changes (viewers)."""
    service.authorize_reader(_db(), request.headers.get("Authorization"))
    sedes = {sede["code"]: sede["name"] for sede in service.list_sedes(_db())}
    return render_template("central/languages.html", packages=languages.list_packages(_db()), sedes=sedes)


@bp.post("/idiomas/<ident>/aprobar")
def approve_language(ident):
    viewer = service.authorize_reader(_db(), request.headers.get("Authorization"))
    # HTTP Basic travels with every request the browser makes, a forged one from another site too.
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if urlsplit(origin).netloc != request.host:
        raise service.CentralError("cross_site", "Approve from this server's own page.", 403)
    languages.approve(_db(), ident, viewer.partition(":")[2])
    return redirect(url_for("central.language_page"), 303)


@bp.get("/healthz")
def healthz():
    _db().ping()
    return jsonify({"status": "ok"})


@bp.get("/")
def overview():
    """Today per sede (most urgent first), then the period (this month unless asked otherwise)."""
    service.authorize_reader(_db(), request.headers.get("Authorization"))
    today = _today()
    first, last = kpis.period(request.args.get("from") or kpis.month_start(today).isoformat(),
                              request.args.get("to") or today.isoformat(), today)
    target = current_app.config["TARGET_WAIT_MINUTES"]
    now = kpis.today(_db(), default_target=target, order=request.args.get("orden", "urgencia"))
    data = kpis.national(_db(), first, last, target)
    return render_template("central/overview.html", data=data, now=now, orders=kpis.ORDERS,
                           stale_minutes=kpis.STALE_MINUTES,
                           year_from=kpis.year_back(today).isoformat(), month_from=kpis.month_start(today).isoformat(),
                           today=today.isoformat())


@bp.get("/sedes/<code>")
def sede_page(code):
    service.authorize_reader(_db(), request.headers.get("Authorization"))
    sede = _known(code)
    first, last = _sede_period(sede)
    data = kpis.sede_kpis(_db(), code, first, last, current_app.config["TARGET_WAIT_MINUTES"])
    return render_template("central/sede.html", sede=sede, data=data)


def _sede_period(sede: dict) -> tuple[str, str]:
    """The period asked for, by default the sede's own today (its zone, not the server's)."""
    return kpis.period(request.args.get("from"), request.args.get("to"),
                       datetime.now(ZoneInfo(sede["timezone"])).date())


def _today() -> date:
    """The central office's today (Peru's), not the server's: a UTC server is a day ahead after 19:00."""
    return datetime.now(ZoneInfo(service.DEFAULT_TIMEZONE)).date()


def _known(code) -> dict:
    for sede in service.list_sedes(_db()):
        if sede["code"] == code:
            return sede
    raise CentralError("unknown_sede", f"No sede {code!r} is registered here.", 404)
