"""What a supervisor sees and does beyond the ticket transitions of the engine.

Plain Python over the engine and its store. The one write here (moving a counter's services) is
one ``BEGIN IMMEDIATE`` transaction with one event, like every engine transition; who did it and
why travel in the event, so the event log stays the single audit trail.
"""
from __future__ import annotations

import json
import statistics

from turnero.errors import DomainError, conflict, invalid
from turnero.i18n import plural, translate
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


def overview(engine, health: dict | None = None) -> dict:
    """The supervisor's live picture: today's summary figures, alerts (see :func:`alerts`; the
    printer and sync ones from ``health``, the parts' health as /healthz reports it), counters with
    idle time, queues against their target wait, tickets beyond target (preferential first),
    today's no-shows and cancellations, recent actions."""
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
    return {"now": engine.clock.rfc3339(now), "service_day": today,
            "summary": day_summary(engine, counters, queues),
            "alerts": alerts(engine, counters, queues, health or {}),
            "counters": counters, "queues": queues, "beyond_target": beyond,
            "requeueable": tickets_today(engine, list(REQUEUEABLE)),
            "audit": audit_log(engine), "last_seq": engine.last_seq()}


def day_summary(engine, counters: list[dict], queues: list[dict]) -> dict:
    """Today's figures for the top of the page: people waiting (and beyond target), served today
    (attentions ended today other than no-shows, as in the reports) and their median wait
    (issue to call), counters by state."""
    start, end = engine.clock.day_bounds(engine.clock.local().date())
    waits = [row[1] for row in engine.store.read(
        "SELECT outcome, wait_seconds FROM attentions WHERE ended_at >= ? AND ended_at < ?", (start, end))
        if row[0] != "no_show"]
    known = sorted(wait for wait in waits if wait is not None)
    states = [counter["state"] for counter in counters]
    return {"waiting": sum(queue["waiting"] for queue in queues),
            "beyond_target": sum(queue["beyond_target"] for queue in queues),
            "called": sum(1 for counter in counters
                          if counter["ticket"] and counter["ticket"]["status"] == "called"),
            "served": len(waits),
            "median_wait_seconds": round(statistics.median(known)) if known else None,
            "counters_open": states.count("open"), "counters_paused": states.count("paused"),
            "counters_closed": states.count("closed")}


# Alert codes, most severe first in the answer; each alert says what it concerns (a service, a
# counter, the printer or the sync), never who is waiting.
PRINTER_WARNING = ("paper_near_end",)
PRINTER_QUIET = ("ok", "disabled", "unchecked")
SYNC_BEHIND_SECONDS = 30 * 60
SEVERITY_ORDER = {"danger": 0, "warning": 1}


def _minutes(seconds: float) -> int:
    return int(seconds // 60)


def _alert(code: str, severity: str, message: str, **about) -> dict:
    return {"code": code, "severity": severity, "message": message, "service": None, "service_name": None,
            "counter": None, "counter_name": None, "ticket": None, **about}


def preferential_target_minutes(engine, service) -> int:
    """How long a ticket with a priority class (Ley 28683 or urgente) may wait: the service's
    target, or ``[reports] preferential_wait_goal_minutes`` when that is set and shorter."""
    goal = engine.settings.reports.get("preferential_wait_goal_minutes") or 0
    return min(service.target_wait_minutes, goal) if goal else service.target_wait_minutes


def alerts(engine, counters: list[dict], queues: list[dict], health: dict) -> list[dict]:
    """What needs the supervisor now, worst first. Codes (stable):

    - ``unstaffed_queue`` (danger): people wait in a service that no open counter serves;
    - ``wait_over_target`` (warning; danger from twice the target): someone in a service has
      waited longer than its ``target_wait_minutes``;
    - ``preferential_over_target`` (danger): a ticket with a priority class has waited longer than
      :func:`preferential_target_minutes`;
    - ``long_pause`` (warning): a counter paused ``[console] long_pause_minutes`` or longer;
    - ``printer_down`` (danger; warning when the paper is only low): the ticket printer's health;
    - ``sync_stopped`` (danger): the sync to the central office stopped; ``sync_behind`` (warning):
      retrying, with the oldest unsent event older than 30 minutes.

    ``counters`` and ``queues`` are as in :func:`overview` (queues with their waiting tickets and
    ``waited_seconds``); ``health`` maps a part ("printer", "sync") to its /healthz entry.
    """
    services = engine.settings.services
    found = []
    open_services = {code for counter in counters if counter["state"] == "open" for code in counter["services"]}
    for queue in queues:
        if not queue["waiting"]:
            continue
        about = {"service": queue["code"], "service_name": queue["name"]}
        if queue["code"] not in open_services:
            found.append(_alert("unstaffed_queue", "danger", plural(
                "counter.alert.unstaffed_queue", queue["waiting"], service=queue["name"], n=queue["waiting"]),
                **about))
        target = queue["target_wait_minutes"] * 60
        late = [ticket for ticket in queue["tickets"] if ticket["waited_seconds"] > target]
        if late:
            longest = max(ticket["waited_seconds"] for ticket in late)
            found.append(_alert("wait_over_target", "danger" if longest >= 2 * target else "warning", plural(
                "counter.alert.wait_over_target", len(late), service=queue["name"], n=len(late),
                target=queue["target_wait_minutes"], longest=_minutes(longest)), **about))
        limit = preferential_target_minutes(engine, services[queue["code"]])
        priority_late = [ticket for ticket in queue["tickets"]  # any class: Ley 28683 or urgente
                         if ticket["priority"] is not None and ticket["waited_seconds"] > limit * 60]
        if priority_late:
            oldest = max(priority_late, key=lambda ticket: ticket["waited_seconds"])
            found.append(_alert("preferential_over_target", "danger", plural(
                "counter.alert.preferential_over_target", len(priority_late), service=queue["name"],
                n=len(priority_late), target=limit, code=oldest["code"],
                longest=_minutes(oldest["waited_seconds"])), ticket=oldest["code"], **about))
    long_pause = engine.settings.console.get("long_pause_minutes", 15) * 60
    for counter in counters:
        paused = counter["state_seconds"]
        if counter["state"] == "paused" and paused is not None and paused >= long_pause:
            found.append(_alert("long_pause", "warning", translate(
                "counter.alert.long_pause", counter=counter["name"], minutes=_minutes(paused),
                limit=_minutes(long_pause)), counter=counter["id"], counter_name=counter["name"]))
    printer = health.get("printer") or {}
    status = printer.get("status")
    if status and status not in PRINTER_QUIET:
        found.append(_alert("printer_down", "warning" if status in PRINTER_WARNING else "danger", translate(
            "counter.alert.printer_down", state=translate(f"counter.printer.{status}", default=status))))
    sync = health.get("sync") or {}
    if sync.get("state") == "stopped":
        found.append(_alert("sync_stopped", "danger", plural(
            "counter.alert.sync_stopped", sync.get("backlog") or 0, n=sync.get("backlog") or 0)))
    elif sync.get("state") == "retrying" and (sync.get("oldest_unsynced_age_seconds") or 0) >= SYNC_BEHIND_SECONDS:
        found.append(_alert("sync_behind", "warning", plural(
            "counter.alert.sync_behind", sync.get("backlog") or 0, n=sync.get("backlog") or 0,
            minutes=_minutes(sync["oldest_unsynced_age_seconds"]))))
    found.sort(key=lambda alert: SEVERITY_ORDER[alert["severity"]])  # stable: rule order within a severity
    return found


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
