"""What every browser page shares: device pairing, the staff login, and page guards.

A device page opened once with ``?device_token=`` keeps the token in an HttpOnly cookie and
redirects to itself without it. Staff pages use the login form and a session.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode, urlparse

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from turnero.web.auth import DEVICE_ROLES, box, describe_request, device_cookie, device_token
from turnero.web.limits import login_limit, pairing_limit
from turnero.errors import DomainError
from turnero.i18n import plural, translate

COOKIE_YEARS = 5


def device_page(*roles: str):
    """Guard a page for paired devices of ``roles``; shows how to pair otherwise."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            accounts, now = box().accounts, box().engine.clock()
            token = request.args.get("device_token")
            if token:
                principal = accounts.authenticate(token, now)
                if principal is None or principal.role not in roles:
                    return render_template("pair.html", roles=roles), 401
                rest = {key: value for key, value in request.args.items() if key != "device_token"}
                response = redirect(request.path + ("?" + urlencode(rest) if rest else ""))
                return _keep_device_token(response, principal.role, token)
            principal = None
            for role in roles:
                principal = accounts.authenticate(device_token(role), now)
                if principal is not None:
                    break
            if principal is None or principal.role not in roles:
                return render_template("pair.html", roles=roles), 401
            g.principal, g.from_cookie = principal, True
            return view(*args, **kwargs)

        return guarded

    return decorate


def _keep_device_token(response, role: str, token: str):
    response.set_cookie(device_cookie(role), token, max_age=COOKIE_YEARS * 365 * 86400, httponly=True,
                        samesite="Lax", secure=request.is_secure)
    return response


def staff_page(*roles: str):
    """Guard a page for logged-in staff holding one of ``roles`` (staff, supervisor, admin)."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            principal = box().accounts.authenticate(session.get("token"), box().engine.clock())
            if principal is None:
                session.pop("token", None)
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            if not principal.has(*roles):
                raise DomainError("forbidden", "Su rol no permite abrir esta página.", 403)
            g.principal, g.from_cookie = principal, True
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                g.audit = describe_request(principal)
            return view(*args, **kwargs)

        return guarded

    return decorate


# Where a sign-in with no page asked for lands: each role's own first page (a translator may
# open nothing but the studio).
HOME_OF_ROLE = {"traductor": "/admin/traducciones"}


def _safe_next(target: str | None) -> str:
    """``target`` if it is a path of this box, else "" (the role's own first page)."""
    parsed = urlparse(target or "")
    if not target or parsed.scheme or parsed.netloc or not target.startswith("/"):
        return ""
    return target


pages = Blueprint("pages", __name__)


@pages.route("/login", methods=["GET", "POST"])
@login_limit
def login():
    error = None
    next_url = _safe_next(request.values.get("next"))
    if request.method == "POST":
        try:
            result = box().accounts.login(request.form.get("username", ""), request.form.get("password", ""),
                                          client=request.remote_addr)
        except DomainError as exc:
            error = exc.message
        else:
            session.clear()
            session["token"] = result["token"]
            session["username"] = result["user"]["username"]
            return redirect(next_url or HOME_OF_ROLE.get(result["user"]["role"], "/counter"))
    return render_template("login.html", error=error, next_url=next_url), 401 if error else 200


@pages.post("/logout")
def logout():
    token = session.pop("token", None)
    if token:
        box().accounts.logout(token)
    session.clear()
    return redirect(url_for("pages.login"))


@pages.route("/pair", methods=["GET", "POST"])
@pairing_limit
def pair():
    """Pair this browser as a kiosk or display with a one-time code from the admin page: posted
    from the pairing form, or given once by the kiosk launcher (``/pair?code=``). Either way the
    browser keeps the device token in an HttpOnly cookie, never in its address bar or history."""
    code = request.values.get("code")
    if request.method == "GET" and not code:
        return render_template("pair.html", roles=(request.args.get("role") or "kiosk",))
    try:
        token, role = box().accounts.redeem_pairing_code(code or "")
    except DomainError as exc:
        return render_template("pair.html", roles=(request.values.get("role") or "kiosk",), error=exc.message), 422
    return _keep_device_token(redirect(f"/{role}"), role, token)


@pages.get("/")
def index():
    """What the box is, where staff go, and how a kiosk or a hall display is paired; a browser
    already paired as one gets a straight link to it (and not a page that says "no vinculado")."""
    accounts, now = box().accounts, box().engine.clock()
    paired = {}
    for role in DEVICE_ROLES:
        principal = accounts.authenticate(device_token(role), now)
        paired[role] = principal is not None and principal.role == role
    return render_template("index.html", sede=box().settings.sede["name"], paired=paired)


def init_app(app):
    app.register_blueprint(pages)
    app.jinja_env.globals["t"] = translate
    app.jinja_env.globals["plural"] = plural
