"""The OpenAPI 3 description of /api/v1, built from one table of routes."""
from __future__ import annotations

from config import PRIORITY_CLASSES

TICKET_REF = {"$ref": "#/components/schemas/Ticket"}
WRAPPED_TICKET = {"type": "object", "properties": {"ticket": TICKET_REF}, "required": ["ticket"]}
WRAPPED_COUNTER = {"type": "object", "properties": {"counter": {"$ref": "#/components/schemas/Counter"}}}
EMPTY_BODY = None
ID = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}
COUNTER = {"name": "counter_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _obj(properties: dict, required=()):
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


STR = {"type": "string"}
LANGUAGES = {"type": "array", "items": {"type": "string"}}  # language codes (SPEC, "Languages")
NULLABLE_STR = {"type": "string", "nullable": True}
NONBLANK_STR = {"type": "string", "pattern": "\\S"}  # a blank value counts as missing (400)
# About the 10th and 90th percentiles of the forecast wait (eta_minutes is its median); null when
# no open counter serves the service.
ETA_RANGE = {"type": "object", "nullable": True, "required": ["low", "high"],
             "properties": {"low": {"type": "integer"}, "high": {"type": "integer"}}}

# The what-if: null is the same as leaving a field out (the default horizon, no label, the counter's
# own services).
WHAT_IF_CHANGE = _obj({"counter": STR, "action": {"type": "string", "enum": ["open", "close", "services"]},
                       "services": {"type": "array", "minItems": 1, "items": STR, "nullable": True}},
                      ["counter", "action"])
WHAT_IF_BODY = _obj({
    "horizon_minutes": {"type": "integer", "minimum": 30, "maximum": 240, "nullable": True},
    "scenarios": {"type": "array", "minItems": 1, "maxItems": 4, "items": _obj({
        "label": NULLABLE_STR, "changes": {"type": "array", "minItems": 1, "maxItems": 4, "items": WHAT_IF_CHANGE}},
        ["changes"])}}, ["scenarios"])
NULLABLE_NUMBER = {"type": "number", "nullable": True}
WHAT_IF_SERVICE = _obj({"code": STR, "name": STR, "served": {"type": "boolean"}, "waiting": {"type": "integer"},
                        "arrivals": {"type": "number"}, "target_wait_minutes": {"type": "integer"},
                        "wait_median_minutes": NULLABLE_NUMBER, "wait_p90_minutes": NULLABLE_NUMBER,
                        "within_target": NULLABLE_NUMBER, "new_ticket": {"type": "object", "nullable": True}})
WHAT_IF_ANSWER = _obj({"now": STR, "horizon_minutes": {"type": "integer"}, "scenarios": {"type": "array", "items": _obj({
    "label": NULLABLE_STR, "changes": {"type": "array", "items": _obj({})},
    "counters": {"type": "array", "items": _obj({"id": STR, "name": STR, "services": {"type": "array", "items": STR},
                                                 "paused": {"type": "boolean"}})},
    "services": {"type": "array", "items": WHAT_IF_SERVICE}})}})

# (method, path, summary, roles, path params, request body schema, success status, success schema)
ROUTES = [
    ("post", "/auth/login", "Log a staff user in", [], [],
     _obj({"username": STR, "password": STR}, ["username", "password"]), 200,
     _obj({"token": STR, "expires_at": STR, "user": _obj({"username": STR, "role": STR})})),
    ("post", "/auth/logout", "End the current session", ["staff"], [], EMPTY_BODY, 200, _obj({})),
    ("get", "/services", "Services with queue length and estimated wait", ["kiosk", "display", "staff"], [],
     EMPTY_BODY, 200, _obj({"services": {"type": "array", "items": _obj({
         "code": STR, "prefix": STR, "waiting": {"type": "integer"},
         "eta_minutes": {"type": "integer", "nullable": True}, "eta_range_minutes": ETA_RANGE})}})),
    ("post", "/tickets", "Issue a ticket", ["kiosk", "staff"], [], _obj({
        "service": STR, "priority": {"type": "string", "enum": list(PRIORITY_CLASSES), "nullable": True},
        "language": STR, "appointment": STR, "name": STR, "idempotency_key": STR,
        "document": _obj({"type": {"type": "string", "enum": ["DNI", "CE", "PASAPORTE", "PTP", "OTRO"]},
                          "number": STR, "check": STR}, ["type", "number"])})
     | {"anyOf": [{"required": ["service"]}, {"required": ["appointment"]}]}, 201, TICKET_REF),
    ("get", "/tickets/{ticket_id}", "A ticket and its history", ["staff"], [ID], EMPTY_BODY, 200, TICKET_REF),
    ("get", "/public/tickets/{public_id}", "Public status of a ticket (no personal data)", [],
     [{"name": "public_id", "in": "path", "required": True, "schema": STR}], EMPTY_BODY, 200,
     _obj({"code": STR, "status": STR, "position": {"type": "integer", "nullable": True},
           "eta_minutes": {"type": "integer", "nullable": True}, "eta_range_minutes": ETA_RANGE,
           "counter": NULLABLE_STR})),
    ("post", "/public/tickets/{public_id}/survey", "Rate the attention once, after the ticket is done", [],
     [{"name": "public_id", "in": "path", "required": True, "schema": STR}],
     _obj({"score": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": {"type": "string", "maxLength": 500}},
          ["score"]), 201,
     _obj({"survey": _obj({"score": {"type": "integer"}, "comment": NULLABLE_STR, "rated_at": STR})})),
    ("get", "/queue", "Waiting tickets in call order", ["staff"],
     [{"name": "service", "in": "query", "required": False, "schema": STR}], EMPTY_BODY, 200,
     _obj({"tickets": {"type": "array", "items": TICKET_REF}})),
    ("get", "/counters/{counter_id}/queue",
     "A counter's waiting tickets in exactly the order its call-next takes them (tiers, oldest first across"
     " its services, the preferential streak rule); each ticket's position is its place in its own service",
     ["staff"], [COUNTER], EMPTY_BODY, 200,
     _obj({"counter": STR, "services": {"type": "array", "items": STR},
           "tickets": {"type": "array", "items": TICKET_REF}})),
    ("get", "/counters", "Counters and what they hold", ["staff"], [], EMPTY_BODY, 200,
     _obj({"counters": {"type": "array", "items": {"$ref": "#/components/schemas/Counter"}}})),
    ("post", "/counters/{counter_id}/open", "Take a counter", ["staff"], [COUNTER],
     _obj({"services": {"type": "array", "items": STR}}), 200, WRAPPED_COUNTER),
    ("post", "/counters/{counter_id}/close", "Leave a counter", ["staff"], [COUNTER], EMPTY_BODY, 200,
     WRAPPED_COUNTER),
    ("post", "/counters/{counter_id}/pause", "Pause a counter", ["staff"], [COUNTER],
     _obj({"reason": STR}, ["reason"]), 200, WRAPPED_COUNTER),
    ("post", "/counters/{counter_id}/resume", "Resume a counter", ["staff"], [COUNTER], EMPTY_BODY, 200,
     WRAPPED_COUNTER),
    ("post", "/counters/{counter_id}/call-next", "Call the next ticket (204 when nothing waits)", ["staff"],
     [COUNTER], EMPTY_BODY, 200, WRAPPED_TICKET),
    ("post", "/counters/{counter_id}/recall", "Announce the counter's ticket again", ["staff"], [COUNTER],
     EMPTY_BODY, 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/call", "Call a specific waiting ticket", ["staff"], [ID],
     _obj({"counter": STR}, ["counter"]), 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/start", "called -> serving", ["staff"], [ID], EMPTY_BODY, 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/finish", "serving -> done", ["staff"], [ID], _obj({
        "outcome": {"type": "string", "enum": ["resolved", "pending", "referred"]}, "result": STR,
        "case_ref": STR, "notes": STR}, ["outcome"]), 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/no-show", "called -> no_show", ["staff"], [ID], EMPTY_BODY, 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/transfer", "Transfer to another service", ["staff"], [ID],
     _obj({"service": STR, "notes": STR}, ["service"]), 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/cancel", "waiting|called -> cancelled", ["staff"], [ID],
     _obj({"reason": STR}), 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/requeue", "no_show|cancelled -> waiting", ["supervisor"], [ID],
     _obj({"reason": STR}), 200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/return", "called -> waiting, same place", ["staff"], [ID], EMPTY_BODY, 200,
     WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/priority", "Change the class of a waiting ticket", ["staff"], [ID],
     _obj({"priority": {"type": "string", "enum": list(PRIORITY_CLASSES), "nullable": True}}, ["priority"]),
     200, WRAPPED_TICKET),
    ("post", "/tickets/{ticket_id}/reprint", "Print the ticket's slip again (one pending job per ticket)",
     ["staff"], [ID], EMPTY_BODY, 200, WRAPPED_TICKET),
    ("get", "/printer", "Printer health and today's active tickets whose slip did not print", ["staff"], [],
     EMPTY_BODY, 200, _obj({"printer": _obj({"status": STR, "detail": NULLABLE_STR}),
                            "unprinted": {"type": "array", "items": TICKET_REF}})),
    ("get", "/appointments", "Today's open appointments for a document or an appointment's code (one of them)",
     ["kiosk", "staff"],
     [{"name": "document", "in": "query", "required": False, "schema": NONBLANK_STR},
      {"name": "code", "in": "query", "required": False, "schema": NONBLANK_STR}], EMPTY_BODY, 200,
     _obj({"appointments": {"type": "array", "items": _obj({"id": STR, "service": STR, "starts_at": STR})}})),
    ("get", "/board", "The last calls, newest first", ["display", "staff"],
     [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}}], EMPTY_BODY, 200,
     _obj({"calls": {"type": "array", "items": _obj({"seq": {"type": "integer"}, "code": STR, "counter": STR,
                                                      "called_at": STR, "recall": {"type": "boolean"}})}})),
    ("get", "/events", "Events after a seq, in order", ["display", "staff"],
     # Out-of-range values are clamped, not refused: after below 0 reads from the start, limit to 1..1000.
     [{"name": "after", "in": "query", "required": False, "schema": {"type": "integer"},
       "description": "Events with a greater seq (default 0)."},
      {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"},
       "description": "How many events at most: default 500, clamped to 1..1000."}],
     EMPTY_BODY, 200, _obj({"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}})),
    ("get", "/announcements/{seq}", "What the display plays for call event seq: chime, phrase WAVs, repeat",
     ["display", "staff"],
     [{"name": "seq", "in": "path", "required": True, "schema": {"type": "integer"}},
      {"name": "wait", "in": "query", "required": False, "schema": {"type": "number"},
       "description": "Seconds to wait for a phrase still being synthesized, clamped to 0..timeout + 2."}],
     EMPTY_BODY, 200, _obj({"seq": {"type": "integer"}, "code": STR, "recall": {"type": "boolean"},
                            "status": {"type": "string", "enum": ["ready", "pending", "failed", "disabled"]},
                            "parts": {"type": "array", "items": _obj({"language": STR, "text": NULLABLE_STR,
                                                                      "url": STR})},
                            "repeat": {"type": "integer"}, "chime_url": STR})),
    ("get", "/kiosk/speech", "A kiosk step's text as audio, in the kiosk's language or else in Spanish (fallback); "
     "200 with its URL when ready, 202 while it is being made (ask again), 404 unknown_step, 503 "
     "speech_unavailable. The step names a catalog text: nothing else is ever said", ["kiosk"],
     [{"name": "step", "in": "query", "required": True,
       "schema": {"type": "string", "enum": ["start", "confirm", "document", "appointment", "ticket"]}},
      {"name": "lang", "in": "query", "required": False, "schema": STR,
       "description": "The kiosk's language (default es)."},
      {"name": "wait", "in": "query", "required": False, "schema": {"type": "number"},
       "description": "Seconds to wait for the audio still being made, clamped to 0..3."}],
     EMPTY_BODY, 200, _obj({"step": STR, "status": {"type": "string", "enum": ["ready", "pending"]},
                            "requested_language": STR, "language": STR, "voice": STR,
                            "source": {"type": "string", "enum": ["pack", "espeak"]},
                            "fallback": {"type": "boolean"}, "note": NULLABLE_STR, "url": NULLABLE_STR})),
    ("get", "/stats", "KPIs for a period", ["supervisor"],
     # SPEC.md writes the query as `?from=&to=`: an empty value means the default (today; `to` = `from`).
     [{"name": "from", "in": "query", "required": False, "allowEmptyValue": True,
       "schema": {"type": "string", "format": "date"}},
      {"name": "to", "in": "query", "required": False, "allowEmptyValue": True,
       "schema": {"type": "string", "format": "date"}}],
     EMPTY_BODY, 200, _obj({"totals": _obj({}), "services": {"type": "array", "items": _obj({})}})),
    ("get", "/stats/me", "Today's figures of the calling staff user", ["staff"], [], EMPTY_BODY, 200,
     _obj({"served": {"type": "integer"}, "no_shows": {"type": "integer"}, "transferred": {"type": "integer"}})),
    ("get", "/tickets", "Today's tickets in the given states (e.g. no_show,cancelled)", ["staff"],
     [{"name": "status", "in": "query", "required": True, "schema": NONBLANK_STR}], EMPTY_BODY, 200,
     _obj({"tickets": {"type": "array", "items": TICKET_REF}})),
    ("get", "/supervision", "Today's summary figures, alerts (code, severity, message, what it concerns), "
     "counters, queues against target, tickets beyond target, recent actions",
     ["supervisor"], [], EMPTY_BODY, 200, _obj({"summary": _obj({}),
                                                "alerts": {"type": "array", "items": _obj({})},
                                                "counters": {"type": "array", "items": _obj({})},
                                                "queues": {"type": "array", "items": _obj({})}})),
    ("post", "/supervision/what-if", "Forecast waits per service for the next hours, as things are and under "
     "each choice (open or close a counter, move its services); changes nothing", ["supervisor"], [],
     WHAT_IF_BODY, 200, WHAT_IF_ANSWER),
    ("post", "/counters/{counter_id}/services", "Move the services an open counter serves", ["supervisor"],
     [COUNTER], _obj({"services": {"type": "array", "items": STR}, "reason": STR}, ["services", "reason"]), 200,
     WRAPPED_COUNTER),
    ("put", "/counters/{counter_id}/language-first", "Call the holder's languages first within a tier, "
     "bounded by [console] language_first_max_hold_minutes (its holder, or a supervisor)", ["staff"], [COUNTER],
     _obj({"enabled": {"type": "boolean"}}, ["enabled"]), 200, WRAPPED_COUNTER),
    ("put", "/users/{username}/languages", "Set the languages a user attends in (of the sede's)", ["admin"],
     [{"name": "username", "in": "path", "required": True, "schema": STR}], _obj({"languages": LANGUAGES},
     ["languages"]), 200, _obj({"user": _obj({"username": STR, "languages": LANGUAGES})})),
    ("post", "/close-day", "Close today's service day (waiting and called tickets expire)", ["supervisor"], [],
     _obj({"reason": STR}, ["reason"]), 200, _obj({"service_day": STR, "expired": {"type": "integer"}})),
    ("get", "/sync/status", "Sync with the central system: state, backlog, last success and error",
     ["supervisor"], [], EMPTY_BODY, 200, _obj({"sync": _obj({"state": STR, "backlog": {"type": "integer"},
                                                              "last_success": NULLABLE_STR,
                                                              "last_error": NULLABLE_STR})})),
    ("post", "/sync/run", "Sync now: push pending events and pull appointments (lifts a stop)", ["admin"], [],
     EMPTY_BODY, 202, _obj({"sync": _obj({"state": STR, "backlog": {"type": "integer"}})})),
    ("get", "/openapi.json", "This document", [], [], EMPTY_BODY, 200, _obj({})),
]

ERROR_STATUSES = {"400": "Malformed request", "401": "No or bad credentials", "403": "Role not allowed",
                  "404": "Unknown id", "409": "State conflict", "413": "Body over 64 KiB",
                  "422": "Invalid field", "429": "Rate limited"}


def openapi_document() -> dict:
    paths: dict = {}
    for method, path, summary, roles, params, body, status, schema in ROUTES:
        operation = {
            "summary": summary,
            "responses": {str(status): {"description": "OK", "content": {"application/json": {"schema": schema}}}},
        }
        if roles:
            operation["description"] = f"Roles: {', '.join(roles)}."
            operation["security"] = [{"bearer": []}]
        if params:
            operation["parameters"] = params
        if body is not None:
            # A body is required when some field is (POST /tickets: a service or an appointment).
            operation["requestBody"] = {"required": bool(body.get("required") or body.get("anyOf")),
                                        "content": {"application/json": {"schema": body}}}
        if path.endswith("call-next"):
            operation["responses"]["204"] = {"description": "Nothing waits"}
        if path == "/kiosk/speech":  # the audio is made off the request: the page asks again
            operation["responses"]["202"] = {"description": "Being prepared", "content": {"application/json": {
                "schema": schema}}}
            operation["responses"]["503"] = {"description": "No voice can say it now", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in ERROR_STATUSES.items():
            operation["responses"][code] = {"description": text, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Turnero box API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _obj({"error": _obj({"code": STR, "message": STR}, ["code", "message"])}, ["error"]),
                "Ticket": _obj({
                    "id": STR, "public_id": STR, "code": STR, "number": {"type": "integer"}, "service": STR,
                    "status": {"type": "string", "enum": ["waiting", "called", "serving", "done", "no_show",
                                                          "transferred", "cancelled", "expired"]},
                    "priority": {"type": "string", "nullable": True}, "channel": STR, "language": STR,
                    "position": {"type": "integer", "nullable": True},
                    "eta_minutes": {"type": "integer", "nullable": True}, "eta_range_minutes": ETA_RANGE,
                    "issued_at": STR,
                    "called_at": NULLABLE_STR, "started_at": NULLABLE_STR, "finished_at": NULLABLE_STR,
                    "counter": NULLABLE_STR, "status_url": STR, "print": _obj({"status": STR})}),
                "Counter": _obj({"id": STR, "name": STR, "services": {"type": "array", "items": STR},
                                 "state": {"type": "string", "enum": ["closed", "open", "paused"]},
                                 "staff": NULLABLE_STR, "ticket": {"nullable": True, "allOf": [TICKET_REF]},
                                 "language_first": {"type": "boolean"}}),
                "Event": _obj({"seq": {"type": "integer"}, "id": STR, "type": STR, "at": STR, "data": _obj({})}),
            },
        },
    }
