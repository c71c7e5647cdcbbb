"""The order in which waiting tickets are called. Every queue rule lives here.

1. an appointment inside its window (``appointment_early_minutes`` before the slot to
   ``appointment_late_minutes`` after it), by slot time;
2. ``urgente`` (staff-set, e.g. victims of violence, Ley 30364);
3. the Ley 28683 classes (gestante, adulto_mayor, discapacidad, con_infante);
4. everyone else.
Within a tier, whoever has waited longest (``queued_at``) goes first, across all the services a
counter serves. A late appointment falls back to tier 3/4 by its arrival. The optional sede rule
``preferential_streak = N`` lets one normal ticket through after N preferential calls in a row.

"Primero en mis idiomas" (a counter's choice; ``mine`` = the languages its holder attends in,
``hold`` = ``[console] language_first_max_hold_minutes`` in seconds). The rules above choose the
tier of the next call (the streak rule included); inside that tier, instead of its first ticket,
the counter calls the first one, in the same order, that is *favoured*: in one of ``mine``, or
waiting for ``hold`` or longer (``now - queued_at >= hold``). If none is, the tier's first ticket.
So the rule never crosses tiers, and **a ticket that has waited ``hold`` is never passed over by
it**: any ticket called before it is one the plain order also puts first. A ticket is passed over
for a language only during its first ``hold`` of waiting. With no languages (a Spanish-only
defender) or ``hold = 0`` the order is the plain one.
"""
from __future__ import annotations

from collections import deque

TIER_APPOINTMENT, TIER_URGENT, TIER_PREFERENTIAL, TIER_NORMAL = 0, 1, 2, 3


def is_preferential(priority: str | None) -> bool:
    """A Ley 28683 class (not ``urgente``, which has its own tier and must not be shown as one)."""
    return priority not in (None, "urgente")


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


def favoured(ticket, mine, hold: float, now: float) -> bool:
    """Whether "primero en mis idiomas" lets ``ticket`` go ahead of its tier (see the module)."""
    return bool(mine) and hold > 0 and (ticket["language"] in mine or ticket["queued_at"] <= now - hold)


def call_order(waiting, services: dict, now: float, preferential_streak: int, streak_limit: int,
               mine=(), hold: float = 0) -> list:
    """Waiting tickets of one counter in the order it will call them if it keeps pressing
    "Llamar siguiente" and nothing else changes: :func:`pick_next` applied again and again, the
    counter's streak moving as the engine moves it (+1 after a Ley 28683 class, else back to 0).

    The console's waiting list is this order, so its first row is always call-next's choice. In
    O(n log n): one sort, then a walk over each tier's queue and its favoured tickets."""
    ordered = queue_order(waiting, services, now)
    pending = {rank: deque() for rank in (TIER_APPOINTMENT, TIER_URGENT, TIER_PREFERENTIAL, TIER_NORMAL)}
    preferred = {rank: deque() for rank in pending}
    for index, ticket in enumerate(ordered):
        rank = tier(ticket, services, now)
        pending[rank].append(index)
        if favoured(ticket, mine, hold, now):
            preferred[rank].append(index)
    taken = [False] * len(ordered)

    def first(queue):
        while queue and taken[queue[0]]:
            queue.popleft()
        return queue[0] if queue else None

    streak, out = preferential_streak, []
    while len(out) < len(ordered):
        rank = next(rank for rank in pending if first(pending[rank]) is not None)
        if (streak_limit and streak >= streak_limit and rank == TIER_PREFERENTIAL
                and first(pending[TIER_NORMAL]) is not None):
            rank = TIER_NORMAL
        pick = first(preferred[rank])
        if pick is None:
            pick = first(pending[rank])
        taken[pick] = True
        out.append(ordered[pick])
        streak = streak + 1 if is_preferential(ordered[pick]["priority"]) else 0
    return out


def position(conn, ticket, service, now: float) -> int:
    """1-based place of a waiting ``ticket`` in its service's queue: the same order as
    :func:`sort_key`, counted in SQL so a long queue costs no Python sorting."""
    services = {service.code: service}
    tier_sql, tier_params = _tier_sql(services, [service.code], now)
    key = sort_key(ticket, services, now)
    if key[0] == TIER_NORMAL:
        # The last tier: every other waiting ticket is ahead but the normal ones queued after it.
        # The queue is counted in its index, and only the tickets queued since this one are
        # read: a ticket just issued (every kiosk answer) walks no queue, however long it is.
        # (The ticket itself, and a tie, fall in the second count: neither is ahead.)
        waiting = conn.execute("SELECT COUNT(*) FROM tickets WHERE status = 'waiting' AND service = ?",
                               (service.code,)).fetchone()[0]
        behind = conn.execute(
            f"SELECT COUNT(*) FROM tickets WHERE status = 'waiting' AND service = ? AND queued_at >= ? AND"
            f" ({tier_sql}) = {TIER_NORMAL} AND (queued_at, number) >= (?, ?)",
            (service.code, ticket["queued_at"], *tier_params, ticket["queued_at"], ticket["number"])).fetchone()[0]
        return waiting - behind + 1
    first_sql = f"CASE WHEN ({tier_sql}) = {TIER_APPOINTMENT} THEN appointment_at ELSE queued_at END"
    ahead = conn.execute(
        f"SELECT COUNT(*) FROM tickets WHERE status = 'waiting' AND service = ? AND id != ? AND"
        f" (({tier_sql}), ({first_sql}), queued_at, number) < (?, ?, ?, ?)",
        (service.code, ticket["id"], *tier_params, *tier_params, *key)).fetchone()[0]
    return ahead + 1


def positions(conn, services: dict, codes: list, now: float) -> dict:
    """ticket id -> 1-based place in its service's queue, for every waiting ticket of ``codes``:
    :func:`position` for a whole hall of status pages in one query."""
    if not codes:
        return {}
    tier_sql, tier_params = _tier_sql(services, codes, now)
    first_sql = f"CASE WHEN ({tier_sql}) = {TIER_APPOINTMENT} THEN appointment_at ELSE queued_at END"
    rows = conn.execute(
        f"SELECT id, ROW_NUMBER() OVER (PARTITION BY service ORDER BY ({tier_sql}), ({first_sql}), queued_at, number)"
        f" FROM tickets WHERE status = 'waiting' AND service IN ({','.join('?' * len(codes))})",
        (*tier_params, *tier_params, *codes)).fetchall()
    return dict(rows)


def _tier_sql(services: dict, codes: list, now: float) -> tuple[str, list]:
    """:func:`tier` in SQL for rows of several services (each has its own appointment window)."""
    cases = " ".join("WHEN ? THEN ?" for _ in codes)
    early = [value for code in codes for value in (code, services[code].appointment_early_minutes * 60)]
    late = [value for code in codes for value in (code, services[code].appointment_late_minutes * 60)]
    sql = (f"CASE WHEN appointment_at IS NOT NULL AND ? BETWEEN appointment_at - (CASE service {cases} END)"
           f" AND appointment_at + (CASE service {cases} END) THEN {TIER_APPOINTMENT}"
           f" WHEN priority = 'urgente' THEN {TIER_URGENT} WHEN priority IS NOT NULL THEN {TIER_PREFERENTIAL}"
           f" ELSE {TIER_NORMAL} END")
    return sql, [now, *early, *late]


def next_waiting(conn, services: dict, codes: list, now: float, preferential_streak: int,
                 streak_limit: int, mine=(), hold: float = 0) -> str | None:
    """The id of the ticket a counter serving ``codes`` calls next, or None: :func:`pick_next`'s
    rule, chosen in SQL so a long queue is not loaded and sorted in Python under the write lock."""
    if not codes:
        return None
    tier, tier_params = _tier_sql(services, codes, now)
    where = f"status = 'waiting' AND service IN ({','.join('?' * len(codes))})"
    inner = (f"SELECT id, appointment_at, queued_at, number, language, ({tier}) AS tier FROM tickets"
             f" WHERE {where}")
    order = f"CASE WHEN tier = {TIER_APPOINTMENT} THEN appointment_at ELSE queued_at END, queued_at, number"
    first = conn.execute(f"SELECT id, tier FROM ({inner}) ORDER BY tier, {order} LIMIT 1",
                         (*tier_params, *codes)).fetchone()
    if first is None:
        return None
    chosen, rank = first
    if streak_limit and preferential_streak >= streak_limit and rank == TIER_PREFERENTIAL:
        normal = conn.execute(
            f"SELECT id FROM tickets WHERE {where} AND ({tier}) = {TIER_NORMAL} ORDER BY queued_at, number LIMIT 1",
            (*codes, *tier_params)).fetchone()
        if normal is not None:
            chosen, rank = normal[0], TIER_NORMAL
    if mine and hold > 0:
        mine = sorted(mine)
        favoured_row = conn.execute(
            f"SELECT id FROM ({inner}) WHERE tier = ? AND (language IN ({','.join('?' * len(mine))})"
            f" OR queued_at <= ?) ORDER BY {order} LIMIT 1",
            (*tier_params, *codes, rank, *mine, now - hold)).fetchone()
        if favoured_row is not None:
            chosen = favoured_row[0]
    return chosen


def pick_next(waiting, services: dict, now: float, preferential_streak: int, streak_limit: int,
              mine=(), hold: float = 0):
    """The ticket a counter calls next, or None. ``preferential_streak`` is the counter's run;
    ``mine`` and ``hold``: "primero en mis idiomas" (the module's last paragraph).

    The rule as readable Python; call-next runs :func:`next_waiting`, its SQL form (the tests hold
    the two to the same choice)."""
    ordered = queue_order(waiting, services, now)
    if not ordered:
        return None
    rank = tier(ordered[0], services, now)
    if streak_limit and preferential_streak >= streak_limit and rank == TIER_PREFERENTIAL:
        if any(tier(ticket, services, now) == TIER_NORMAL for ticket in ordered):
            rank = TIER_NORMAL
    same = [ticket for ticket in ordered if tier(ticket, services, now) == rank]
    return next((ticket for ticket in same if favoured(ticket, mine, hold, now)), same[0])
