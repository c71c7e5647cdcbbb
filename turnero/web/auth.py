"""Who is calling: a bearer token, a paired device's cookie, or a staff page's session.

Cookie-borne credentials (device cookie, staff session) need a CSRF token on unsafe methods;
a bearer token does not (a browser never attaches it by itself).
"""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, request, session
from flask_wtf.csrf import CSRFError, validate_csrf

from turnero import audit
from turnero.errors import DomainError

# One cookie per device role, so a browser paired as both kiosk and display (the demo's, a
# technician's laptop) keeps both. The single cookie of the first round is still read.
DEVICE_ROLES = ("kiosk", "display")
LEGACY_DEVICE_COOKIE = "turnero_device"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def device_cookie(role: str) -> str:
    return f"turnero_{role}"


def device_token(role: str | None = None) -> str | None:
    """The paired device token this request carries: the cookie of ``role`` when the page says
    which it is (``X-Turnero-Device``, or the guard's role), else the only one it has."""
    roles = (role,) if role in DEVICE_ROLES else DEVICE_ROLES
    for name in roles:
        if request.cookies.get(device_cookie(name)):
            return request.cookies[device_cookie(name)]
    return request.cookies.get(LEGACY_DEVICE_COOKIE) or None


def box():
    return current_app.extensions["turnero"]


def credentials() -> tuple[str | None, bool]:
    """(token, from_cookie) for the current request."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise DomainError("unauthorized", "Use 'Authorization: Bearer <token>'.", 401)
        return token.strip(), False
    if session.get("token"):
        return session["token"], True
    token = device_token(request.headers.get("X-Turnero-Device"))
    return (token, True) if token else (None, False)


def current_principal():
    """The authenticated principal or None (cached on ``g``)."""
    if "principal" not in g:
        token, from_cookie = credentials()
        g.principal = box().accounts.authenticate(token, box().engine.clock())
        g.from_cookie = from_cookie
        if token and g.principal is None:
            raise DomainError("unauthorized", "Credencial inválida o vencida.", 401)
    return g.principal


def describe_request(principal) -> dict:
    """This request as an audit entry: the view hands it to the write that performs the action."""
    target = ",".join(str(value) for value in (request.view_args or {}).values()) or None
    device = request.headers.get("User-Agent", "")[:80]
    return audit.describe(principal.name, principal.role, f"{request.method} {request.path}", target=target,
                          client=f"{request.remote_addr} {device}".strip())


def action_audit() -> dict | None:
    """The audit entry of the current unsafe request (set by the guards), for its one write."""
    return g.get("audit")


def requires(*roles: str):
    """Let in only principals holding one of ``roles`` (401 without credentials, 403 otherwise)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            principal = current_principal()
            if principal is None:
                raise DomainError("unauthorized", "Se requiere autenticación.", 401)
            if not principal.has(*roles):
                raise DomainError("forbidden", "Su rol no permite esta acción.", 403)
            if request.method not in SAFE_METHODS:
                g.audit = describe_request(principal)
            if g.from_cookie and request.method not in SAFE_METHODS:
                try:
                    validate_csrf(request.headers.get("X-CSRFToken"))
                except CSRFError:
                    raise DomainError("csrf_failed", "Falta el token CSRF o venció; recargue la página.", 400) from None
                except Exception:  # validate_csrf raises wtforms ValidationError
                    raise DomainError("csrf_failed", "Falta el token CSRF o venció; recargue la página.", 400) from None
            return view(*args, **kwargs)

        return guarded

    return decorate
