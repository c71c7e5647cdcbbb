"""The JSON API under /api/v1. Each view parses the request, calls one engine function, answers."""
from __future__ import annotations

import json
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request, session

from turnero import audiences, supervision, whatif
from turnero.errors import DomainError
from turnero.stats import compute_stats, own_figures
from turnero.web.auth import action_audit, box, credentials, current_principal, requires
from turnero.web.offload import offload
from turnero.web.limits import limiter, login_limit
from turnero.web.openapi import openapi_document
from turnero.web.personal import for_staff, record_read

STAFF = ("staff",)
DEVICES_AND_STAFF = ("staff", "kiosk", "display")

api = Blueprint("api", __name__, url_prefix="/api/v1")


def json_body(required: bool = False) -> dict:
    """The request's JSON object; an empty body counts as {} unless ``required``."""
    raw = request.get_data(cache=True)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is None and len(raw) >= limit and request.environ["wsgi.input"].read(1):
        # A chunked body has no Content-Length to refuse up front: Werkzeug stops reading at the
        # limit, so one more byte on the wire means it was too large (not malformed).
        raise DomainError("too_large", "El cuerpo de la solicitud es demasiado grande (máximo 64 KiB).", 413)
    if not raw.strip():
        if required:
            raise DomainError("malformed_json", "Se esperaba un cuerpo JSON.", 400)
        return {}
    try:
        body = json.loads(raw)
        # "\ud800" is a valid JSON escape but not text (SQLite cannot store it), and a deeply nested
        # body overflows the parser's recursion: both are malformed input, not a server error.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        body = None
    if not isinstance(body, dict):
        raise DomainError("malformed_json", "El cuerpo no es un objeto JSON válido.", 400)
    return body


def field(body: dict, name: str, kind, required: bool = False):
    value = body.get(name)
    if value is None:
        if required:
            raise DomainError("missing_field", f"Falta el campo {name!r}.", 422, field=name)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = kind.__name__ if isinstance(kind, type) else kind[0].__name__
        raise DomainError("invalid_type", f"El campo {name!r} debe ser {expected}.", 400, field=name)
    return value


def _language(value: str | None) -> str:
    """Spanish when the field is absent; an empty or unknown language is the engine's 422."""
    return "es" if value is None else value


def int_arg(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise DomainError("invalid_type", f"El parámetro {name!r} debe ser un número entero.", 400) from None
    return max(low, min(high, value))


def is_display() -> bool:
    principal = current_principal()
    return principal is not None and principal.role == "display"


def staff_json(payload):
    """A staff answer: personal data only of the tickets this reader may see; reads recorded."""
    return jsonify(for_staff(payload))


def kiosk_rate():
    return f"{box().settings.kiosk['rate_per_minute']}/minute"


def kiosk_key():
    principal = current_principal()
    return f"device:{principal.name}" if principal else request.remote_addr


def kiosk_limit(limit_value):
    """A rate limit that only kiosks count against (staff issue and look up for the person at the
    desk). Flask-Limiter's ``exempt_when`` would still cost every staff request the limiter's whole
    check, about a tenth of a millisecond of an issue's two: a caller who is not a kiosk skips it."""
    def decorate(view):
        limited = limiter.limit(limit_value, key_func=kiosk_key)(view)

        @wraps(view)
        def for_kiosks(*args, **kwargs):
            principal = current_principal()
            return (limited if principal is not None and principal.role == "kiosk" else view)(*args, **kwargs)

        return for_kiosks

    return decorate


@api.post("/auth/login")
@login_limit
def login():
    body = json_body(required=True)
    username = field(body, "username", str, required=True)
    password = field(body, "password", str, required=True)
    result = box().accounts.login(username, password, client=request.remote_addr)
    result["expires_at"] = box().engine.clock.rfc3339(result["expires_at"])
    return jsonify(result)


@api.post("/auth/logout")
@requires("staff")
def logout():
    """Ends the session of the credential used: a bearer token, or the page's session cookie."""
    token, from_cookie = credentials()
    if token:
        box().accounts.logout(token, audit=action_audit())
    if from_cookie:
        session.clear()
    return jsonify({"ok": True})


@api.get("/services")
@requires(*DEVICES_AND_STAFF)
def services():
    return jsonify({"services": box().engine.services_overview()})


@api.post("/tickets")
@requires("kiosk", "staff")
@kiosk_limit(kiosk_rate)
def create_ticket():
    body = json_body(required=True)
    principal = current_principal()
    priority = field(body, "priority", str)
    if priority == "urgente" and not principal.has("staff"):
        raise DomainError("forbidden_priority", "Solo el personal puede asignar la clase 'urgente'.", 403)
    document = field(body, "document", dict)
    if document is not None:
        for key in ("type", "number"):
            field(document, key, str, required=True)
        field(document, "check", str)
    appointment = field(body, "appointment", str)
    service = field(body, "service", str, required=appointment is None)
    key = request.headers.get("Idempotency-Key") or field(body, "idempotency_key", str)
    if key is not None and len(key) > 100:
        raise DomainError("invalid_field", "La clave de idempotencia es demasiado larga.", 422)
    ticket, _created = box().engine.issue(
        service=service, priority=priority, language=_language(field(body, "language", str)),
        document=document, appointment=appointment,
        channel="kiosk" if principal.role == "kiosk" else "staff",
        name=field(body, "name", str) if principal.has("staff") else None, idempotency_key=key, audit=action_audit())
    return jsonify(for_staff(ticket) if principal.has("staff") else audiences.kiosk_ticket(ticket)), 201


@api.get("/tickets/<ticket_id>")
@requires(*STAFF)
def get_ticket(ticket_id):
    ticket = box().engine.get_ticket(ticket_id)
    ticket["history"] = box().engine.ticket_history(ticket_id)
    return staff_json(ticket)


@api.get("/public/tickets/<public_id>")
def public_ticket(public_id):
    return jsonify(box().engine.public_ticket(public_id))


@api.post("/public/tickets/<public_id>/survey")
@limiter.limit("20/minute")
def survey(public_id):
    """"¿Cómo fue su atención?": anyone holding the public id, once, after the ticket is done."""
    body = json_body(required=True)
    answer = box().engine.rate(public_id, field(body, "score", int, required=True), field(body, "comment", str))
    return jsonify({"survey": answer}), 201


@api.get("/queue")
@requires(*STAFF)
def queue():
    return staff_json({"tickets": box().engine.queue(request.args.get("service") or None)})


@api.get("/counters/<counter_id>/queue")
@requires(*STAFF)
def counter_queue(counter_id):
    """The counter's waiting tickets in exactly the order its call-next takes them."""
    return staff_json(box().engine.counter_queue(counter_id))


@api.get("/counters")
@requires(*STAFF)
def counters():
    return staff_json({"counters": box().engine.counters()})


@api.post("/counters/<counter_id>/open")
@requires(*STAFF)
def open_counter(counter_id):
    body = json_body()
    services = field(body, "services", list)
    if services is not None and not all(isinstance(code, str) for code in services):
        raise DomainError("invalid_type", "El campo 'services' debe ser una lista de códigos.", 400)
    return staff_json({"counter": box().engine.open_counter(counter_id, _me(), services, audit=action_audit())})


@api.post("/counters/<counter_id>/close")
@requires(*STAFF)
def close_counter(counter_id):
    supervisor = current_principal().has("supervisor")
    return staff_json({"counter": box().engine.close_counter(counter_id, _me(), supervisor=supervisor,
                                                          audit=action_audit())})


@api.post("/counters/<counter_id>/pause")
@requires(*STAFF)
def pause_counter(counter_id):
    body = json_body(required=True)
    reason = field(body, "reason", str, required=True)
    return staff_json({"counter": box().engine.pause_counter(counter_id, _me(), reason, audit=action_audit())})


@api.post("/counters/<counter_id>/resume")
@requires(*STAFF)
def resume_counter(counter_id):
    return staff_json({"counter": box().engine.resume_counter(counter_id, _me(), audit=action_audit())})


@api.post("/counters/<counter_id>/call-next")
@requires(*STAFF)
def call_next(counter_id):
    ticket = box().engine.call_next(counter_id, _me(), audit=action_audit())
    if ticket is None:
        return "", 204
    return staff_json({"ticket": ticket})


@api.post("/counters/<counter_id>/recall")
@requires(*STAFF)
def recall(counter_id):
    ticket = box().engine.recall(counter_id, _me(), audit=action_audit(), supervisor=_supervisor())
    return staff_json({"ticket": ticket})


@api.post("/tickets/<ticket_id>/call")
@requires(*STAFF)
def call(ticket_id):
    body = json_body(required=True)
    counter_id = field(body, "counter", str, required=True)
    if counter_id not in box().settings.counters:  # 404 is for ids in the path (SPEC.md)
        raise DomainError("unknown_counter", f"No existe la ventanilla {counter_id!r}.", 422, field="counter")
    return staff_json({"ticket": box().engine.call(ticket_id, counter_id, _me(), audit=action_audit())})


@api.post("/tickets/<ticket_id>/start")
@requires(*STAFF)
def start(ticket_id):
    return staff_json({"ticket": box().engine.start(ticket_id, _me(), audit=action_audit(), supervisor=_supervisor())})


@api.post("/tickets/<ticket_id>/finish")
@requires(*STAFF)
def finish(ticket_id):
    body = json_body(required=True)
    return staff_json({"ticket": box().engine.finish(
        ticket_id, _me(), outcome=field(body, "outcome", str, required=True), result=field(body, "result", str),
        case_ref=field(body, "case_ref", str), notes=field(body, "notes", str), audit=action_audit(),
        supervisor=_supervisor())})


@api.post("/tickets/<ticket_id>/no-show")
@requires(*STAFF)
def no_show(ticket_id):
    ticket = box().engine.no_show(ticket_id, _me(), audit=action_audit(), supervisor=_supervisor())
    return staff_json({"ticket": ticket})


@api.post("/tickets/<ticket_id>/transfer")
@requires(*STAFF)
def transfer(ticket_id):
    body = json_body(required=True)
    return staff_json({"ticket": box().engine.transfer(
        ticket_id, field(body, "service", str, required=True), _me(), notes=field(body, "notes", str),
        audit=action_audit(), supervisor=_supervisor())})


@api.post("/tickets/<ticket_id>/cancel")
@requires(*STAFF)
def cancel(ticket_id):
    body = json_body()
    return staff_json({"ticket": box().engine.cancel(ticket_id, _me(), field(body, "reason", str), audit=action_audit(),
                                                  supervisor=_supervisor())})


@api.post("/tickets/<ticket_id>/requeue")
@requires("supervisor")
def requeue(ticket_id):
    body = json_body()
    ticket = box().engine.requeue(ticket_id, _me(), field(body, "reason", str), audit=action_audit())
    return staff_json({"ticket": ticket})


@api.post("/tickets/<ticket_id>/return")
@requires(*STAFF)
def return_ticket(ticket_id):
    return staff_json({"ticket": box().engine.return_to_queue(ticket_id, _me(), audit=action_audit(),
                                                           supervisor=_supervisor())})


@api.post("/tickets/<ticket_id>/priority")
@requires(*STAFF)
def priority(ticket_id):
    body = json_body(required=True)
    if "priority" not in body:
        raise DomainError("missing_field", "Falta el campo 'priority'.", 422, field="priority")
    return staff_json({"ticket": box().engine.set_priority(ticket_id, field(body, "priority", str), _me(),
                                                        audit=action_audit())})


@api.get("/appointments")
@requires("kiosk", "staff")
@kiosk_limit(lambda: f"{box().settings.kiosk['lookups_per_minute']}/minute")
def appointments():
    """Today's appointments for a document number (``?document=``) or an appointment's code
    (``?code=``). A kiosk gets only the neutral label (never which service: a victim's appointment
    must not show); every lookup is recorded."""
    number, code = request.args.get("document"), request.args.get("code")
    for name, value in (("document", number), ("code", code)):
        if value is not None and not value.strip():
            raise DomainError("missing_field", f"El parámetro {name!r} está vacío.", 422, field=name)
    if number is None and code is None:
        raise DomainError("missing_field", "Indique el número de documento o el código de la cita.", 422,
                          field="document")
    code = (code or "").strip()
    if len(code) > 64:
        raise DomainError("invalid_code", "El código de la cita es demasiado largo.", 422, field="code")
    found = box().engine.appointments_for_document(number) if number else box().engine.appointments_for_code(code)
    principal = current_principal()
    record_read(principal, [], {"appointment_lookup": True, "found": [item["id"] for item in found]})
    if principal.role == "kiosk":
        found = [audiences.kiosk_appointment(item) for item in found]
    return jsonify({"appointments": found})


@api.get("/board")
@requires("display", "staff")
def board():
    services = current_principal().get("services") or None
    limit = int_arg("limit", box().settings.sede["board_size"], 1, 50)
    calls = box().engine.board(limit, services)
    if is_display():
        calls = [audiences.board_entry(entry) for entry in calls]
    return jsonify({"calls": calls})


@api.get("/events")
@requires("display", "staff")
def events():
    after = int_arg("after", 0, 0, 2**62)
    limit = int_arg("limit", 500, 1, 1000)
    engine = box().engine
    rows = engine.events_after(after, limit)
    principal = current_principal()
    if principal.role == "display" and principal.get("services"):
        wanted = set(principal["services"])
        rows = [event for event in rows if not _event_services(event) or _event_services(event) & wanted]
    payloads = [engine.views.event(event) for event in rows]
    if principal.role == "display":
        payloads = [audiences.hall_event(payload) for payload in payloads]
    else:
        payloads = for_staff(payloads)
    return jsonify({"events": payloads, "last_seq": engine.last_seq()})


@api.get("/stats")
@requires("supervisor")
def stats():
    return jsonify(offload(compute_stats, box().engine, request.args.get("from"), request.args.get("to")))


@api.get("/stats/me")
@requires(*STAFF)
def own_stats():
    return jsonify(own_figures(box().engine, _me()))


@api.get("/tickets")
@requires(*STAFF)
def tickets_today():
    statuses = supervision.check_statuses(request.args.get("status"))
    return staff_json({"tickets": supervision.tickets_today(box().engine, statuses)})


@api.get("/supervision")
@requires("supervisor")
def supervision_overview():
    return staff_json(supervision.overview(box().engine, _parts_health(("printer", "sync"))))


def _parts_health(names) -> dict:
    """The /healthz entries of these parts (a part that cannot answer is in error)."""
    health = {}
    for name in names:
        provider = box().health.get(name)
        if provider is None:
            continue
        try:
            health[name] = provider()
        except DomainError as error:
            health[name] = {"status": "error", "state": "error", "detail": error.code}
    return health


@api.post("/supervision/what-if")
@requires("supervisor")
def what_if():
    """Forecast waits per service now and under each choice; reads only (nothing is audited)."""
    return jsonify(offload(whatif.what_if, box().engine, json_body(required=True)))


@api.post("/counters/<counter_id>/services")
@requires("supervisor")
def counter_services(counter_id):
    body = json_body(required=True)
    services = field(body, "services", list, required=True)
    if not all(isinstance(code, str) for code in services):
        raise DomainError("invalid_type", "El campo 'services' debe ser una lista de códigos.", 400)
    return staff_json({"counter": supervision.assign_services(
        box().engine, counter_id, services, _me(), field(body, "reason", str), audit=action_audit())})


@api.put("/counters/<counter_id>/language-first")
@requires(*STAFF)
def language_first(counter_id):
    enabled = field(json_body(required=True), "enabled", bool, required=True)
    return staff_json({"counter": box().engine.set_language_first(counter_id, _me(), enabled, supervisor=_supervisor(),
                                                               audit=action_audit())})


@api.put("/users/<username>/languages")
@requires("admin")
def user_languages(username):
    languages = field(json_body(required=True), "languages", list, required=True)
    box().accounts.set_languages(username, languages, box().settings.sede["languages"], audit=action_audit())
    return jsonify({"user": {"username": username, "languages": box().accounts.languages(username)}})


@api.post("/close-day")
@requires("supervisor")
def close_day():
    body = json_body(required=True)
    return staff_json(supervision.close_day(box().engine, _me(), field(body, "reason", str), audit=action_audit()))


@api.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


def _me() -> str:
    return g.principal.name


def _supervisor() -> bool:
    """Supervisors may act on a ticket another staff member holds (the event records it)."""
    return g.principal.has("supervisor")


def _event_services(event: dict) -> set:
    """The services an event concerns (empty for counter events)."""
    data = event["data"]
    return {data[key]["service"] for key in ("ticket", "from", "to") if isinstance(data.get(key), dict)}
