"""The sync part of the box: pushes events to the central case system and pulls appointments
(SPEC.md, "Sync protocol"). Wired by turnero.web.app.create_app via :func:`init_app`; the command
``turnero sync --once|--status`` runs :func:`run_cli`.

Modules: ``client`` (HTTP and the retry/stop decision), ``backoff``, ``state`` (durable state in
the box's database), ``agent`` (one exchange), ``worker`` (the background thread), ``retention``
(personal data removed after the retention).
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


class SettingsFollower:
    """The current ``[sync]`` table: re-read when ``sede.toml`` changes on disk, so fixing a wrong
    token lifts a stop without a restart. A file that no longer loads keeps the last good values."""

    def __init__(self, settings, env=None):
        self.path = settings.path
        self.env = env
        self.current = dict(settings.sync)
        self._mtime = self._stat()

    def _stat(self):
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def __call__(self) -> dict:
        mtime = self._stat()
        if mtime != self._mtime:
            self._mtime = mtime
            from config import ConfigError, load_settings

            try:
                self.current = dict(load_settings(self.path.parent, self.env).sync)
            except ConfigError as exc:
                log.error("sync keeps its previous settings: %s", exc)
        return self.current


def init_app(app):
    """Register /healthz's sync entry, ``/api/v1/sync/status`` and ``/api/v1/sync/run``, and, when
    ``[sync] central_url`` is set, the worker (``app.extensions["turnero_sync"]``)."""
    from turnero.sync_state import status
    from sync.worker import RetentionWorker, SyncWorker

    from sync.web import create_blueprint

    box = app.extensions["turnero"]
    follower = SettingsFollower(box.settings, app.config.get("ENV"))
    box.health["sync"] = lambda: status(box.engine, follower())
    blueprint = create_blueprint(box.health["sync"])
    app.register_blueprint(blueprint)
    if "csrf" in app.extensions:
        app.extensions["csrf"].exempt(blueprint)  # turnero.web.auth checks CSRF when the credential is a cookie
    if not app.config.get("START_WORKERS"):
        return
    if box.devices is not None:  # a web worker of `turnero run`: the device process syncs
        if not box.settings.sync["central_url"]:
            return
        worker = box.devices.part("sync")
    elif not box.settings.sync["central_url"]:
        box.workers.append(RetentionWorker(box.engine, follower))
        return
    else:
        worker = SyncWorker(box.engine, follower, **app.config.get("SYNC_WORKER_OPTIONS", {}))
        box.workers.append(worker)
        box.parts["sync"] = worker
    app.extensions["turnero_sync"] = worker

    def sync_now() -> str:
        """The admin page's "sync now" button (listed with the device tests)."""
        from turnero.i18n import translate

        worker.run_now()
        return translate("sync.requested")

    app.extensions.setdefault("turnero.device_tests", {})["sync"] = sync_now


def central_anchors(settings) -> list[dict]:
    """What the central side holds of this sede, per epoch (events acknowledged, audit chain
    anchor), for ``turnero audit verify --against-central``. Errors: :class:`sync.client.SyncError`
    (one line; also when ``[sync] central_url`` is not set)."""
    from sync.client import CentralClient, Rejected

    sync = settings.sync
    if not sync.get("central_url"):
        raise Rejected("sync is disabled: set [sync] central_url (and token) in sede.toml")
    client = CentralClient(sync["central_url"], settings.sede["code"], sync["token"], sync["timeout_seconds"])
    try:
        return client.anchors()
    finally:
        client.close()


def run_cli(args) -> int:
    """``turnero sync --status`` prints the state; ``--once`` does one push and pull round."""
    from sync.cli import run

    return run(args)
