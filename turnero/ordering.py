"""The order in which waiting tickets are called. Every queue rule lives here.

1. an appointment inside its window (``appointment_early_minutes`` before the slot to
   ``appointment_late_minutes`` after it), by slot time;
2. ``urgente`` (staff-set, e.g. victims of violence, Ley 30364);
3. the Ley 28683 classes (gestante, adulto_mayor, discapacidad, con_infante);
4. everyone else.
Within a tier, whoever has waited longest (``queued_at``) goes first, across all the services a
counter serves. A late appointment falls back to tier 3/4 by its arrival. The optional sede rule
``preferential_streak = N`` lets one normal ticket through after N preferential calls in a row.
"""
from __future__ import annotations

TIER_APPOINTMENT, TIER_URGENT, TIER_PREFERENTIAL, TIER_NORMAL = 0, 1, 2, 3


def tier(ticket, services: dict, now: float) -> int:
    if ticket["appointment_at"] is not None:
        service = services[ticket["service"]]
        opens = ticket["appointment_at"] - service.appointment_early_minutes * 60
        closes = ticket["appointment_at"] + service.appointment_late_minutes * 60
        if opens <= now <= closes:
            return TIER_APPOINTMENT
    if ticket["priority"] == "urgente":
        return TIER_URGENT
    if ticket["priority"]:
        return TIER_PREFERENTIAL
    return TIER_NORMAL


def sort_key(ticket, services: dict, now: float):
    rank = tier(ticket, services, now)
    first = ticket["appointment_at"] if rank == TIER_APPOINTMENT else ticket["queued_at"]
    return (rank, first, ticket["queued_at"], ticket["number"])


def queue_order(waiting, services: dict, now: float) -> list:
    """Waiting tickets in the order they will be called (no streak rule: that is per counter)."""
    return sorted(waiting, key=lambda ticket: sort_key(ticket, services, now))


def position(conn, ticket, service, now: float) -> int:
    """1-based place of a waiting ``ticket`` in its service's queue: the same order as
    :func:`sort_key`, counted in SQL so a long queue costs no Python sorting."""
    early = service.appointment_early_minutes * 60
    late = service.appointment_late_minutes * 60
    tier_sql = ("CASE WHEN appointment_at IS NOT NULL AND ? BETWEEN appointment_at - ? AND appointment_at + ?"
                " THEN 0 WHEN priority = 'urgente' THEN 1 WHEN priority IS NOT NULL THEN 2 ELSE 3 END")
    first_sql = f"CASE WHEN ({tier_sql}) = 0 THEN appointment_at ELSE queued_at END"
    window = (now, early, late)
    ahead = conn.execute(
        f"SELECT COUNT(*) FROM tickets WHERE status = 'waiting' AND service = ? AND id != ? AND"
        f" (({tier_sql}), ({first_sql}), queued_at, number) < (?, ?, ?, ?)",
        (service.code, ticket["id"], *window, *window, *sort_key(ticket, {service.code: service}, now))).fetchone()[0]
    return ahead + 1


def pick_next(waiting, services: dict, now: float, preferential_streak: int, streak_limit: int):
    """The ticket a counter calls next, or None. ``preferential_streak`` is the counter's run."""
    ordered = queue_order(waiting, services, now)
    if not ordered:
        return None
    first = ordered[0]
    if streak_limit and preferential_streak >= streak_limit and tier(first, services, now) == TIER_PREFERENTIAL:
        for ticket in ordered:
            if tier(ticket, services, now) == TIER_NORMAL:
                return ticket
    return first
