"""Two API routes for the admin page: the sync status, and "sync now" (push, then pull)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from sync import DISABLED_MESSAGE
from turnero.errors import DomainError
from turnero.web.auth import action_audit, requires


def create_blueprint(status_provider, enabled=lambda: True) -> Blueprint:
    """``enabled()`` tells whether ``[sync] central_url`` is set now (sede.toml is followed live)."""
    bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")

    @bp.get("/status")
    @requires("supervisor")
    def sync_status():
        return jsonify({"sync": status_provider()})

    @bp.post("/run")
    @requires("admin")
    def sync_now():
        worker = current_app.extensions.get("turnero_sync")
        if worker is None or not enabled():
            raise DomainError("sync_disabled", DISABLED_MESSAGE, 409)
        worker.run_now(audit=action_audit())
        return jsonify({"sync": status_provider()}), 202

    return bp

