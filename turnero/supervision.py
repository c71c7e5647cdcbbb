"""What a supervisor sees and does beyond the ticket transitions of the engine.

Plain Python over the engine and its store. The one write here (moving a counter's services) is
one ``BEGIN IMMEDIATE`` transaction with one event, like every engine transition; who did it and
why travel in the event, so the event log stays the single audit trail.
"""
from __future__ import annotations

import json

from turnero.errors import DomainError, conflict, invalid
from turnero.texts import check_text

MAX_REASON = 120
AUDIT_LIMIT = 50
ACTIVE_STATES = ("waiting", "called", "serving")
REQUEUEABLE = ("no_show", "cancelled")


def require_reason(reason) -> str:
    """Supervisor actions must say why. Errors: missing_reason (422)."""
    if not isinstance(reason, str) or not reason.strip():
        raise invalid("missing_reason", "Indique el motivo de la acción.")
    check_text("reason", reason, MAX_REASON, code="invalid_reason")
    return reason.strip()


def assign_services(engine, counter_id: str, services: list, by: str, reason: str,
                    audit: dict | None = None) -> dict:
    """Move the services an open (or paused) counter serves, whoever holds it.

    Errors: unknown_counter (404); unknown_service, missing_reason (422); counter_closed (409).
    Emits ``counter.services_changed`` with the counter, the previous services, ``by`` and ``reason``.
    """
    reason = require_reason(reason)
    engine.counter_settings(counter_id)
    if not isinstance(services, list) or not services:
        raise invalid("unknown_service", "Indique al menos un servicio.")
    unknown = [code for code in services if code not in engine.settings.services]
    if unknown:
        raise invalid("unknown_service", f"Servicio desconocido: {unknown[0]!r}.")
    services = list(dict.fromkeys(services))
    with engine.store.write(audit=audit) as tx:
        state = engine.counter_state(tx, counter_id)
        if state["state"] == "closed":
            # Opening a closed counter takes its configured services, so a change now would be lost.
            raise conflict("counter_closed", f"{engine.views.counter_name(counter_id)} está cerrada; "
                                             "cambie sus servicios cuando alguien la abra.")
        previous = json.loads(state["services"] or "[]")
        tx.execute("UPDATE counter_state SET services = ? WHERE counter = ?", (json.dumps(services), counter_id))
        view = engine.counter_view(tx.conn, counter_id)
        tx.append_event("counter.services_changed",
                        {"counter": view, "previous": previous, "by": by, "reason": reason})
        return view


def close_day(engine, by: str, reason: str, audit: dict | None = None) -> dict:
    """Close today's service day now. Errors: missing_reason (422)."""
    reason = require_reason(reason)
    expired = engine.close_day(by=by, reason=reason, audit=audit)
    return {"service_day": engine.clock.service_day(), "expired": expired}


def tickets_today(engine, statuses: list[str]) -> list[dict]:
    """Today's tickets in ``statuses``, most recently closed first. Errors: invalid_status (422)."""
    from turnero.engine import STATE_LABELS

    bad = [status for status in statuses if status not in STATE_LABELS]
    if bad or not statuses:
        raise invalid("invalid_status", f"Estado desconocido: {bad[0] if bad else '(ninguno)'!r}.")
    placeholders = ",".join("?" * len(statuses))
    rows = engine.store.read(
        f"SELECT * FROM tickets WHERE service_day = ? AND status IN ({placeholders})"
        " ORDER BY COALESCE(finished_at, called_at, issued_at) DESC LIMIT 500",
        (engine.clock.service_day(), *statuses))
    return [engine.views.ticket(row) for row in rows]


def overview(engine) -> dict:
    """The supervisor's live picture: counters with idle time, queues against their target wait,
    tickets beyond target (preferential first), today's no-shows and cancellations, recent actions."""
    now = engine.clock()
    today = engine.clock.service_day(now)
    last_activity = {row[0]: row[1] for row in engine.store.read(
        "SELECT counter, MAX(COALESCE(finished_at, called_at)) FROM tickets WHERE counter IS NOT NULL"
        " AND service_day = ? GROUP BY counter", (today,))}
    counters = []
    for counter in engine.counters():
        since = engine.clock.parse(counter["since"]) if counter["since"] else None
        idle = None
        if counter["state"] == "open" and counter["ticket"] is None and since is not None:
            idle_from = max(since, last_activity.get(counter["id"]) or since)
            idle = max(0, round(now - idle_from))
        counters.append({**counter, "idle_seconds": idle,
                         "state_seconds": max(0, round(now - since)) if since is not None else None})
    queues, beyond = [], []
    for service in engine.settings.services.values():
        target = service.target_wait_minutes * 60
        waiting = engine.queue(service.code)
        for ticket in waiting:
            ticket["waited_seconds"] = max(0, round(now - engine.clock.parse(ticket["issued_at"])))
            ticket["beyond_target"] = ticket["waited_seconds"] > target
            if ticket["beyond_target"]:
                beyond.append(ticket)
        longest = max((ticket["waited_seconds"] for ticket in waiting), default=None)
        queues.append({"code": service.code, "name": service.name(), "target_wait_minutes": service.target_wait_minutes,
                       "waiting": len(waiting), "longest_wait_seconds": longest,
                       "beyond_target": sum(ticket["beyond_target"] for ticket in waiting), "tickets": waiting})
    beyond.sort(key=lambda ticket: (ticket["priority"] is None, -ticket["waited_seconds"]))
    return {"now": engine.clock.rfc3339(now), "service_day": today, "counters": counters, "queues": queues,
            "beyond_target": beyond, "requeueable": tickets_today(engine, list(REQUEUEABLE)),
            "audit": audit_log(engine), "last_seq": engine.last_seq()}


def audit_log(engine, limit: int = AUDIT_LIMIT) -> list[dict]:
    """Recent events that name who acted (``data.by``), newest first."""
    start, _ = engine.clock.day_bounds(engine.clock.local().date())
    rows = engine.store.read(
        "SELECT seq, type, at, data FROM events INDEXED BY events_by_time WHERE at >= ?"
        " AND json_extract(data, '$.by') IS NOT NULL"
        " ORDER BY seq DESC LIMIT ?", (start, limit))
    return [audit_entry(engine, row) for row in rows]


def audit_entry(engine, row) -> dict:
    data = json.loads(row["data"])
    ticket = data.get("from") or data.get("ticket") or {}
    counter = data.get("counter") or {}
    return {"seq": row["seq"], "type": row["type"], "at": engine.clock.rfc3339(row["at"]), "by": data.get("by"),
            "reason": data.get("reason") or data.get("notes"), "code": ticket.get("code"),
            "counter": counter.get("name") if isinstance(counter, dict) else None}


def check_statuses(text: str | None) -> list[str]:
    statuses = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not statuses:
        raise DomainError("missing_field", "Indique el parámetro 'status'.", 422, field="status")
    return statuses
