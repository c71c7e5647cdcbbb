"""What one client may hold of the box: long-lived connections (caps) and time to send a request.

A hall of phones watching their tickets must not crowd out the devices that run the sede. Each
long-lived request (a WebSocket, or a polling request, under ``/socket.io/``) is counted while it
is open, in total and per client address. A client with no credential on its handshake (a status
page) is refused once the share not reserved for staff, kiosks and displays is full, or once its
address holds ``max_connections_per_address``; a client with a valid credential (session cookie,
device cookie or ``Authorization: Bearer``) only at ``max_connections``. The refusal is SPEC.md's
JSON error, before any upgrade: 429 for the address, 503 for the box.

Counts are per worker process: with several workers each holds its share of the totals.
"""
from __future__ import annotations

import io
import json
import socket
import threading
from collections import Counter

SOCKET_PATH = "/socket.io"
HOLD_KEY = "turnero.connection_slot"  # (WSGI environ) the Slot of a long-lived request
TOO_MANY = "too_many_connections"
BOX_FULL = ("503 Service Unavailable", "El equipo atiende el máximo de conexiones; intente en un momento.")
SHARE_FULL = ("503 Service Unavailable", "Hay demasiadas pantallas conectadas; intente en un momento.")
ADDRESS_FULL = ("429 Too Many Requests", "Demasiadas conexiones desde esta dirección; cierre alguna pestaña.")


def json_error(start_response, status: str, code: str, message: str):
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store")]
    start_response(status, headers)
    return [body]


class ConnectionGuard:
    """WSGI middleware counting the long-lived requests in flight (see the module docstring).

    ``is_privileged(environ)`` tells whether the handshake carries a valid credential; it is asked
    only of a handshake with an Authorization header or a cookie, so a status page costs no
    database read."""

    def __init__(self, app, server: dict, is_privileged, workers: int = 1):
        self.app = app
        self.is_privileged = is_privileged
        self.total_cap = max(1, server["max_connections"] // workers)
        self.anonymous_cap = max(1, (server["max_connections"] - server["reserved_connections"]) // workers)
        self.address_cap = server["max_connections_per_address"]
        self._lock = threading.Lock()
        self.requests = 0  # ordinary requests under way
        self.total = 0
        self.by_address: Counter = Counter()

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(SOCKET_PATH):
            self.requests += 1  # (one event loop: no lock needed for a counter it alone changes)
            try:
                return self.app(environ, start_response)
            finally:
                self.requests -= 1
        address = environ.get("REMOTE_ADDR") or "?"
        refusal, counted_address = self._admit(address, environ)
        if refusal is not None:
            status, message = refusal
            return json_error(start_response, status, TOO_MANY, message)
        # Counted for as long as it is held: a long poll until it is answered, a WebSocket until it
        # closes, which is after this request returned (turnero.web.websocket takes the slot over).
        slot = environ[HOLD_KEY] = Slot(lambda: self._release(counted_address))
        try:
            return self.app(environ, start_response)
        finally:
            if (release := slot.take()) is not None:
                release()

    def _admit(self, address: str, environ) -> tuple:
        """(refusal or None, the address it counts against or None when it has a credential)."""
        privileged = _claims_credential(environ) and self.is_privileged(environ)
        with self._lock:
            if self.total >= self.total_cap:
                return BOX_FULL, None
            if not privileged:
                if self.total >= self.anonymous_cap:
                    return SHARE_FULL, None
                if self.by_address[address] >= self.address_cap:
                    return ADDRESS_FULL, None
                self.by_address[address] += 1
            self.total += 1
            return None, None if privileged else address

    def _release(self, address: str | None):
        with self._lock:
            self.total -= 1
            if address is not None:
                self.by_address[address] -= 1
                if self.by_address[address] <= 0:
                    del self.by_address[address]


class Slot:
    """A long-lived request's place in the counts, given back once: by whoever takes it last (the
    guard when the request returns, unless the request's WebSocket took it to give back when it
    closes). In the WSGI environ under HOLD_KEY; an object, since middleware may copy the environ."""

    __slots__ = ("_release",)

    def __init__(self, release):
        self._release = release

    def take(self):
        """The function that gives the place back, to its first taker only; then None."""
        release, self._release = self._release, None
        return release


def _claims_credential(environ) -> bool:
    """Whether the handshake carries something that may be a credential (checked only then)."""
    return bool(environ.get("HTTP_AUTHORIZATION") or environ.get("HTTP_COOKIE"))


class BodyDeadline:
    """WSGI middleware: a request's body must arrive whole within ``seconds`` (gevent only: the
    read is cut by a gevent timeout), else 408 and the connection is closed. What it read is
    handed on in memory; bodies over ``max_body`` are left to the app's 413."""

    def __init__(self, app, seconds: float, max_body: int):
        self.app = app
        self.seconds = seconds
        self.max_body = max_body

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        wanted = int(length) if length.isdigit() else (self.max_body + 1 if chunked else 0)
        if 0 < wanted <= self.max_body + 1:
            import gevent

            stream = environ["wsgi.input"]
            try:
                with gevent.Timeout(self.seconds):
                    body = _read(stream, wanted)
            except gevent.Timeout:
                return _HangUpAfter(json_error(start_response, "408 Request Timeout", "request_timeout",
                                               "La solicitud llegó incompleta a tiempo; envíela de nuevo."),
                                    environ.get("gunicorn.socket"))
            environ["wsgi.input"] = io.BytesIO(body)
            if chunked and len(body) <= self.max_body:
                environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


class _HangUpAfter(list):
    """A response after which the connection ends: the rest of a late body must not be read as
    the next request. (Gunicorn drops an app's ``Connection: close``; closing our side of the
    reading makes its next read end the connection once this response is sent.)"""

    def __init__(self, body, sock):
        super().__init__(body)
        self.sock = sock

    def close(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass


def _read(stream, wanted: int) -> bytes:
    parts, size = [], 0
    while size < wanted:
        chunk = stream.read(wanted - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)
