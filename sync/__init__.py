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
import threading

log = logging.getLogger(__name__)


class SettingsFollower:
    """The current ``[sync]`` table: re-read when ``sede.toml`` changes on disk, so a hand edit
    (sync switched on, a new URL, a fixed token) applies within a poll of the worker, without a
    restart. A file that no longer loads keeps the last good values; :attr:`error` then says why,
    for /healthz, until the file loads again."""

    def __init__(self, settings, env=None):
        self.path = settings.path
        self.env = env
        self.current = dict(settings.sync)
        self.error = None  # the ConfigError of a file that does not load
        self._lock = threading.Lock()  # the worker's thread and /healthz ask at once
        self._seen = self._stat()

    def _stat(self):
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        # The size too: an edit within the file system's timestamp granularity still shows.
        return info.st_mtime_ns, info.st_size, info.st_ino

    def __call__(self) -> dict:
        with self._lock:
            seen = self._stat()
            if seen != self._seen:
                self._seen = seen
                from config import ConfigError, load_settings

                try:
                    current = dict(load_settings(self.path.parent, self.env).sync)
                except ConfigError as exc:
                    self.error = exc
                    log.error("sede.toml changed on disk and does not load; sync keeps its previous settings: %s",
                              exc)
                else:
                    if current != self.current:
                        log.info("sync settings changed on disk: applied without a restart")
                    self.current, self.error = current, None
            return self.current


def settings_problem(error) -> str:
    """What /healthz says of a ``sede.toml`` that was edited and no longer loads, for whoever reads
    the JSON; the admin page words the same ConfigError in Spanish from its key and problem."""
    return (f"El archivo sede.toml se modificó y no es válido: {error}. La caja sigue funcionando con los "
            "ajustes que tenía; corrija el archivo y se aplicará solo, sin reiniciar.")


def settings_problem_code(error) -> str:
    """The machine-readable side: ``key:problem`` of the ConfigError (``invalid`` without one)."""
    return ":".join(part for part in (error.key, error.problem) if part) or "invalid"


def init_app(app):
    """Register /healthz's sync entry, ``/api/v1/sync/status`` and ``/api/v1/sync/run``, and the
    worker (``app.extensions["turnero_sync"]``). The worker runs even while ``[sync] central_url``
    is empty: it purges personal data past the retention, and starts syncing as soon as a hand
    edit of ``sede.toml`` sets the URL (the follower re-reads it)."""
    from turnero.language_share import LanguageSyncState
    from turnero.sync_state import status
    from sync.worker import SyncWorker

    from sync.web import create_blueprint

    box = app.extensions["turnero"]
    follower = SettingsFollower(box.settings, app.config.get("ENV"))

    def health() -> dict:
        info = status(box.engine, follower())
        info.update(LanguageSyncState(box.store).status(box.engine.clock))
        if follower.error:
            info["settings_error"] = settings_problem(follower.error)
            info["settings_error_code"] = settings_problem_code(follower.error)
        return info

    def enabled() -> bool:
        return bool(follower().get("central_url"))

    box.health["sync"] = health

    def publish_language(language: str, by: str) -> list[dict]:
        """The translation studio's "Publicar en la central" (admin/ may not import sync/)."""
        from sync.languages import publish

        return publish(box.engine, follower(), language, by)

    app.extensions["turnero.language_publish"] = publish_language
    blueprint = create_blueprint(health, enabled)
    app.register_blueprint(blueprint)
    if "csrf" in app.extensions:
        app.extensions["csrf"].exempt(blueprint)  # turnero.web.auth checks CSRF when the credential is a cookie
    if not app.config.get("START_WORKERS"):
        return
    if box.devices is not None:  # a web worker of `turnero run`: the device process syncs
        worker = box.devices.part("sync")
    else:
        worker = SyncWorker(box.engine, follower, **app.config.get("SYNC_WORKER_OPTIONS", {}))
        box.workers.append(worker)
        box.parts["sync"] = worker
    app.extensions["turnero_sync"] = worker

    def sync_now() -> str:
        """The admin page's "sync now" button (listed with the device tests)."""
        from turnero.errors import DomainError
        from turnero.i18n import translate

        if not enabled():
            raise DomainError("sync_disabled", DISABLED_MESSAGE, 409)
        worker.run_now()
        return translate("sync.requested")

    app.extensions.setdefault("turnero.device_tests", {})["sync"] = sync_now


DISABLED_MESSAGE = "La sincronización no está activa en esta sede (configure [sync] central_url)."


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
