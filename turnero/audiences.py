"""Who may receive what: the one definition of personal data, and each audience's view of it.

Audiences (SPEC.md, and the security review):

- ``public``: the status page of one's own ticket (anyone holding its public id);
- ``kiosk``: the ticket it has just issued (the person in front of it) and, live, queue changes
  as the hall sees them;
- ``display``: the hall, which shows and says codes and counters only;
- ``staff``: personal data of the tickets they may see (not of a discreet service they are not
  assigned to);
- ``supervisor``: everything;
- ``central``: everything the sync sends (the central case system is the data's owner).

Every payload that leaves the box, the live feeds and the retention purge derive from the tables
here: a field added to a ticket is hidden from the hall until it is listed for it.
"""
from __future__ import annotations

from turnero import ordering

AUDIENCES = ("public", "kiosk", "display", "staff", "supervisor", "central")

# Personal data, by the object that carries it. The retention purge removes exactly these.
PERSONAL = {
    "ticket": ("document", "name"),
    "attention": ("notes", "case_ref"),
    # Free text typed beside a ticket event (a transfer's notes, a cancellation's reason, the
    # survey's comment), or beside a counter (a pause's reason): it may name someone.
    "event": ("notes", "reason", "comment"),
    "counter": ("pause_reason",),
}

# What the hall (displays, and the kiosks' live feed) may see of a ticket, a counter, a call.
HALL_TICKET = ("code", "service", "service_label", "status", "counter", "counter_name", "called_at", "recalls")
HALL_COUNTER = ("id", "name", "spoken_name", "state", "services")
HALL_EVENT_KEYS = ("ticket", "from", "to", "counter", "recall", "service_day", "expired")
# The status page of one's own ticket.
PUBLIC_TICKET = ("code", "service_label", "status", "position", "eta_minutes", "eta_range_minutes", "counter",
                 "counter_name", "language", "issued_at", "called_at")
# The kiosk's answer about the ticket it has just issued: the person's own, minus who they are on
# record and the box's internal links.
KIOSK_HIDDEN = PERSONAL["ticket"] + ("staff", "appointment", "transferred_from")


# The hall shows that a call is preferential (Ley 28683), never which class (health, age,
# pregnancy), and never ``urgente``: that would point at a victim of violence.
def hall_ticket(ticket: dict) -> dict:
    view = {key: ticket.get(key) for key in HALL_TICKET}
    view["preferential"] = ordering.is_preferential(ticket.get("priority"))
    return view


def hall_counter(counter: dict) -> dict:
    return {key: counter.get(key) for key in HALL_COUNTER}


def hall_event(payload: dict) -> dict:
    """An event ``{"seq","type","at","data"}`` as a display or a kiosk may receive it."""
    data = payload["data"]
    clean = {}
    for key in HALL_EVENT_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key in ("ticket", "from", "to") and isinstance(value, dict):
            value = hall_ticket(value)
        elif key == "counter" and isinstance(value, dict):
            value = hall_counter(value)
        clean[key] = value
    return {**payload, "data": clean}


def public_ticket(ticket: dict) -> dict:
    return {key: ticket.get(key) for key in PUBLIC_TICKET}


def kiosk_ticket(ticket: dict) -> dict:
    return {key: value for key, value in ticket.items() if key not in KIOSK_HIDDEN}


def kiosk_appointment(appointment: dict) -> dict:
    """A kiosk's answer to a document lookup: which slot, never which service (the label is the
    discreet service's neutral one)."""
    return {"id": appointment["id"], "starts_at": appointment["starts_at"],
            "service_label": appointment["service_label"]}


def board_entry(entry: dict) -> dict:
    """A board row (``/api/v1/board``) for the hall: the class becomes a yes/no."""
    view = {key: value for key, value in entry.items() if key != "priority"}
    view["preferential"] = ordering.is_preferential(entry.get("priority"))
    return view


# ----------------------------------------------------------------- staff

def is_ticket(value: dict) -> bool:
    return "public_id" in value and "code" in value


def is_attention(value: dict) -> bool:
    return "outcome" in value and "ticket_id" in value


def is_counter(value: dict) -> bool:
    return "state" in value and "spoken_name" in value


def nothing(_ticket) -> bool:
    """``keep`` for the purge and for feeds that carry no personal data at all."""
    return False


def without_personal(value, keep=nothing, seen: set | None = None):
    """A copy of ``value`` with personal data left out at every depth, except in the tickets for
    which ``keep(ticket)`` is true (their ids are added to ``seen``). An attention is kept or
    stripped with its ticket's service; a ticket event's free text with the event's ticket."""
    if isinstance(value, list):
        return [without_personal(item, keep, seen) for item in value]
    if not isinstance(value, dict):
        return value
    drop: set = set()
    if is_ticket(value):
        if keep(value):
            if seen is not None and any(value.get(key) for key in PERSONAL["ticket"]):
                seen.add(value["id"])
        else:
            drop.update(PERSONAL["ticket"])
    elif is_attention(value) and not keep({"service": value.get("service"), "id": value.get("ticket_id")}):
        drop.update(PERSONAL["attention"])
    elif is_counter(value) and not keep(None):
        drop.update(PERSONAL["counter"])
    # Only containers are walked into (the others are kept as they are): a ticket has some thirty
    # fields, and this runs on every transition (audit digest, live feed, answer).
    out = {key: without_personal(item, keep, seen) if isinstance(item, (dict, list)) else item
           for key, item in value.items() if key not in drop}
    ticket = value.get("ticket") if isinstance(value.get("ticket"), dict) else None
    if ticket is not None and is_ticket(ticket) and not keep(ticket):
        for key in PERSONAL["event"]:
            out.pop(key, None)
    return out


def staff_can_see(principal, services: dict):
    """For a staff principal: ``keep(ticket)`` — supervisors see everything; staff see every
    service but the discreet ones they are not assigned to (``principal["services"]``)."""
    if principal.has("supervisor"):
        return lambda ticket: True
    assigned = set(principal.get("services") or ())

    def keep(ticket):
        if ticket is None:  # counter free text (a pause's reason): staff see their colleagues'
            return True
        service = services.get(ticket.get("service"))
        return service is None or not service.discreet or service.code in assigned

    return keep


# Where the personal data of PERSONAL sits in the box's tables (what the purge clears).
PERSONAL_COLUMNS = {
    "tickets": ("document_type", "document_number", "name", "cancel_reason"),
    "attentions": ("notes", "case_ref"),
    "appointments": ("document_type", "document_number", "name"),
    "ratings": ("comment",),
}
