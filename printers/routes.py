"""Staff endpoints of the printer: reprint a ticket, see the printer and what failed to print."""
from __future__ import annotations

from flask import Blueprint, jsonify

from turnero import print_spool
from turnero.web.auth import action_audit, box, requires

api = Blueprint("printers_api", __name__, url_prefix="/api/v1")


def _worker():
    from flask import current_app

    return current_app.extensions["printers"]


@api.post("/tickets/<ticket_id>/reprint")
@requires("staff")
def reprint(ticket_id):
    print_spool.queue_reprint(box().store, ticket_id, box().settings.printer["type"], audit=action_audit())
    _worker().wake()
    return jsonify({"ticket": box().engine.get_ticket(ticket_id)})


@api.get("/printer")
@requires("staff")
def printer_status():
    ids = print_spool.unprinted_today(box().store, box().engine.clock.service_day())
    return jsonify({"printer": _worker().health(), "unprinted": [box().engine.get_ticket(id_) for id_ in ids]})
