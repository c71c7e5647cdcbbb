"""The app factory: the one place that wires settings, store, engine, web, sockets and devices."""
from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_settings, resolve_data_dir
from turnero.web import pages, realtime
from turnero.accounts import Accounts
from turnero.audit import ReadLog
from turnero.backup import hold_server_lock
from turnero.web.api import api
from turnero.web.auth import credentials
from turnero.web.connections import BodyDeadline, ConnectionGuard
from turnero.web.devices import DeviceHost, DevicesClient
from turnero.web.offload import offload
from turnero.web import limits
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.errors import DomainError
from turnero import i18n
from turnero.periodic import Periodic
from turnero.stats import keep_day_figures
from turnero.translations import Translations
from turnero.store import DB_FILE, GroupCommit, Store, wal_path

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
MAX_URL = 4096  # longer API URLs are refused with JSON (414), not left to the server's HTML page
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass
class Box:
    """What every part of the app reaches through ``current_app.extensions["turnero"]``."""
    data_dir: Path
    settings: object
    store: Store
    engine: Engine
    accounts: Accounts
    socketio: object = None
    pump: object = None
    # name -> callable returning a dict for /healthz ("printer", "voice", "sync")
    health: dict = field(default_factory=dict)
    workers: list = field(default_factory=list)
    server_lock: object = None  # the open file holding the data directory's lock (shared)
    reads: ReadLog = None  # reads of personal data, for the audit trail
    connections: object = None  # the ConnectionGuard: long-lived connections held now
    # turnero.web.devices: in a web worker of `turnero run`, the line to the device process (the
    # parts use its remote workers); in the device process, the host serving ``parts``.
    devices: object = None
    host: object = None
    parts: dict = field(default_factory=dict)  # name -> the worker the device process serves

    def push(self, name: str, payload: dict, namespace: str) -> None:
        """A device's news for staff consoles (not an event: no seq), on its own namespace."""
        if self.host is not None:
            self.host.push(name, payload, namespace)
        elif self.socketio is not None:
            self.socketio.emit(name, payload, namespace=namespace, to="staff")

    def stop(self):
        for worker in self.workers:
            worker.stop()
        if self.devices is not None:
            self.devices.close()
        if self.reads is not None:
            self.reads.stop()
        if self.pump is not None:
            self.pump.stop()
        if self.server_lock is not None:
            self.server_lock.close()


def create_app(test_config: dict | None = None) -> Flask:
    test_config = test_config or {}
    data_dir = resolve_data_dir(test_config.get("DATA_DIR"))
    settings = load_settings(data_dir, test_config.get("ENV"))
    server_lock = hold_server_lock(data_dir)  # a restore refuses while any server holds it
    clock = SedeClock(settings.timezone, test_config.get("NOW") or time.time)
    served = bool(test_config.get("DEVICES"))  # a web worker of `turnero run`
    # It leaves the WAL's checkpoints to the device process, and flushes commits in groups.
    group = GroupCommit(wal_path(data_dir / DB_FILE), offload,
                        lambda: box.connections is not None and box.connections.requests > 1) \
        if served else None
    store = Store.in_data_dir(data_dir, clock, checkpoints=not served, group_commit=group)
    i18n.init(Translations(store))  # the sede's reviewed translations over the catalog files
    engine = Engine(store, settings, clock)
    box = Box(data_dir=data_dir, settings=settings, store=store, engine=engine,
              accounts=Accounts(store, settings.sede["session_hours"]), server_lock=server_lock,
              reads=ReadLog(store))

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(data_dir), MAX_CONTENT_LENGTH=MAX_BODY, JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", WTF_CSRF_TIME_LIMIT=None,
        START_WORKERS=True,
    )
    app.config.update({key: value for key, value in test_config.items() if key.isupper()})
    if settings.sede["public_base_url"].startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.session_interface = SessionCookies()
    app.extensions["turnero"] = box

    CSRFProtect(app)
    limits.init_app(app)
    app.extensions["csrf"].exempt(api)  # the API checks CSRF itself when the credential is a cookie
    app.register_blueprint(api)
    pages.init_app(app)
    _register_errors(app)
    _register_health(app, box)
    app.after_request(_security_headers)
    # Each request's database connection goes back for the next (Store.release); this also runs
    # after each Socket.IO handler, so an open WebSocket holds none.
    app.teardown_request(lambda _error: box.store.release())
    app.before_request(_refuse_long_urls)

    box.socketio = realtime.init_app(app, box)
    box.pump = realtime.EventPump(engine, box.socketio)
    _guard_connections(app, box)
    if app.config.get("DEVICE_HOST"):
        box.host = DeviceHost(app)
    elif app.config.get("DEVICES"):
        box.devices = DevicesClient(data_dir, on_push=box.push, on_wake=box.pump.wake)
        store.on_commit(box.devices.forward)

    from admin import init_app as init_admin
    from counter import init_app as init_counter
    from display import init_app as init_display
    from kiosk import init_app as init_kiosk
    from printers import init_app as init_printers
    from sync import init_app as init_sync

    for init_part in (init_printers, init_sync, init_kiosk, init_display, init_counter, init_admin):
        init_part(app)

    engine.roll_over()
    if app.config["START_WORKERS"]:
        if box.host is None:  # the device process has no sockets to push to, nor reads to record
            box.pump.start()
            box.reads.start()
        if box.devices is None:
            box.workers.append(DayWatcher(engine))
        for worker in box.workers:
            worker.start()
    return app


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, its serializer made once per secret key instead of on every
    request (Flask opens the session of every request, an API call with a bearer token too; the
    serializer holds no request state)."""

    _made: tuple | None = None

    def open_session(self, app: Flask, request):
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            # No cookie at all (an API client with a bearer token): an empty session, as Flask
            # would make, without parsing the request's headers for a cookie that is not there.
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._made
        if made is None or made[0] != keys:
            made = self._made = (keys, super().get_signing_serializer(app))
        return made[1]


def _guard_connections(app: Flask, box: Box) -> None:
    """Wrap the whole WSGI app, Socket.IO included: caps on long-lived connections, a deadline
    for request bodies (under gevent, where a slow body would otherwise hold its greenlet), and,
    outermost, the trusted proxies, so that every layer sees the client's real address."""
    server = box.settings.server

    def is_privileged(environ) -> bool:
        with app.request_context(environ):
            try:
                token, _ = credentials()
            except DomainError:
                return False
            return bool(token) and box.accounts.authenticate(token, box.engine.clock()) is not None

    box.connections = ConnectionGuard(app.wsgi_app, server, is_privileged, server["workers"])
    app.wsgi_app = box.connections
    if realtime.async_mode() == "gevent":
        app.wsgi_app = BodyDeadline(app.wsgi_app, server["body_timeout_seconds"], MAX_BODY)
    # Behind a TLS proxy: trust exactly the configured number of proxies for the client address and
    # scheme (never by default: anyone could claim any address); cookies are then Secure.
    proxies = box.settings.sede["trusted_proxies"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)


class DayWatcher(Periodic):
    """Closes the previous service day at local midnight (tickets left waiting become expired)."""

    name = "turnero-day-watcher"

    def __init__(self, engine, interval: float = 30):
        super().__init__(interval)
        self.engine = engine
        self._day = engine.clock.service_day()

    def tick(self):
        today = self.engine.clock.service_day()
        if today != self._day:
            try:
                expired = self.engine.roll_over()
                log.info("service day %s closed: %d tickets expired", self._day, expired)
                keep_day_figures(self.engine, date.fromisoformat(self._day))
                self._day = today
            except sqlite3.Error:
                log.exception("could not close the service day; will retry")


SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),  # a status URL must not leak to other sites
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    # Everything the pages use is served by the box itself: no inline script, no other origin.
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
)


def _security_headers(response):
    """Each header unless the view set its own. (The names present are read once: a setdefault
    per header scans the response's headers each time, on every request.)"""
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    headers.extend([(name, value) for name, value in SECURITY_HEADERS if name.lower() not in present])
    if "cache-control" not in present and (request.path.startswith("/api/") or request.path == "/healthz"):
        headers.add("Cache-Control", "no-store")
    return response


def _refuse_long_urls():
    raw = request.environ.get("RAW_URI") or request.full_path
    if len(raw) > MAX_URL:
        return error_response("uri_too_long", f"La dirección es demasiado larga (máximo {MAX_URL} caracteres).", 414)
    return None


def _secret_key(data_dir: Path) -> str:
    """A per-box secret kept in the data directory, so sessions survive restarts."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_response(code: str, message: str, status: int, details: dict | None = None):
    """The one error format: JSON on the API, a readable page elsewhere."""
    if wants_json():
        error = {"code": code, "message": message}
        if details:
            error.update(details)
        return jsonify({"error": error}), status
    return render_template("error.html", code=code, message=message, status=status), status


def _register_errors(app: Flask):
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        return error_response(error.code, error.message, error.status, error.details)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error):
        response, status = error_response("rate_limited", "Demasiadas solicitudes; espere un momento.", 429)
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        codes = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}
        messages = {404: "Ruta desconocida.", 405: "Método no permitido en esta ruta.",
                    413: "El cuerpo de la solicitud es demasiado grande (máximo 64 KiB)."}
        code = codes.get(error.code, "http_error")
        if error.code == 400 and "CSRF" in (error.description or ""):
            code = "csrf_failed"
        return error_response(code, messages.get(error.code, error.description or error.name), error.code)

    @app.errorhandler(sqlite3.OperationalError)
    def database_error(error):
        log.exception("database error")
        return error_response("database_unavailable", "La base de datos no se puede escribir ahora.", 503)

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unexpected error")
        return error_response("internal_error", "Error interno; el equipo técnico fue notificado.", 500)


# Monitors may poll often: one answer (and at most one flushed write) per second.
HEALTH_CACHE_SECONDS = 1.0


def _part_health(provider) -> dict:
    """A part's health; a part that cannot answer (its device process restarting) is in error."""
    try:
        return provider()
    except DomainError as error:
        return {"status": "error", "detail": error.code}


def _register_health(app: Flask, box: Box):
    cache = {"at": -HEALTH_CACHE_SECONDS, "answer": None}
    lock = threading.Lock()

    @app.get("/healthz")
    def healthz():
        with lock:
            now = time.monotonic()
            if now - cache["at"] >= HEALTH_CACHE_SECONDS or cache["answer"] is None:
                cache["answer"], cache["at"] = health_answer(), now
            body, status = cache["answer"]
        return jsonify(body), status

    def health_answer():
        db = "ok"
        try:
            box.store.check_writable()
        except sqlite3.Error as exc:
            db = f"error: {exc}"
        parts = {name: _part_health(provider) for name, provider in box.health.items()}
        printer = parts.get("printer", {"status": "disabled", "detail": None})
        voice = parts.get("voice", {"status": "disabled"})
        sync = parts.get("sync", {"state": "disabled", "backlog": box.engine.last_seq(), "last_success": None,
                                  "last_error": None})
        degraded = db != "ok" or printer.get("status") not in ("ok", "disabled") \
            or voice.get("status") not in ("ok", "disabled") or sync.get("state") in ("retrying", "stopped") \
            or bool(sync.get("settings_error"))  # sede.toml edited on disk and invalid: the box runs on old values
        body = {"status": "degraded" if degraded else "ok", "db": db, "printer": printer, "voice": voice,
                "sync": sync}
        return body, 503 if db != "ok" else 200
