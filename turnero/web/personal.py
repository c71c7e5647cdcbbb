"""What leaves the box for the person asking, by audience (the definitions are in
:mod:`turnero.audiences`), and the record of who read personal data."""
from __future__ import annotations

from flask import request

from turnero import audiences
from turnero.web.auth import box, current_principal, describe_request

MAX_LISTED = 200  # ticket ids listed in one read record


def for_staff(payload):
    """``payload`` as the current staff principal may see it. A read (a safe method) that carried
    personal data is recorded: who, which tickets, when. An action's own answer is not recorded
    twice: the action's audit row already names its ticket."""
    principal = current_principal()
    seen: set = set()
    keep = audiences.staff_can_see(principal, box().settings.services)
    clean = audiences.without_personal(payload, keep, seen)
    if seen and request.method in ("GET", "HEAD"):
        record_read(principal, sorted(seen))
    return clean


def record_read(principal, ticket_ids: list, details: dict | None = None):
    entry = describe_request(principal)
    entry.update(action="read " + entry["action"], target=ticket_ids[0] if len(ticket_ids) == 1 else None,
                 details={"tickets": ticket_ids[:MAX_LISTED], "count": len(ticket_ids), **(details or {})})
    box().reads.record(entry)
