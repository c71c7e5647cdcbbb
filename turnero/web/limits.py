"""The one rate limiter of the box (Flask-Limiter, in memory: one box, one worker process).

Views take their limits from here as decorators; ``create_app`` binds the limiter to the app
with :func:`init_app`.
"""
from __future__ import annotations

from flask import request
from flask_limiter import Limiter


def client_address() -> str:
    return request.remote_addr or "local"


limiter = Limiter(key_func=client_address, storage_uri="memory://", default_limits=[], headers_enabled=True)

# Password guessing: one budget per address for the API and the login form together. Only failed
# attempts count, so a client that logs in often is not slowed.
login_limit = limiter.shared_limit("10/minute", scope="login", methods=["POST"],
                                   deduct_when=lambda response: response.status_code == 401)
# 10^8 pairing codes, 10 minutes, 10 tries a minute per address: guessing is hopeless.
pairing_limit = limiter.shared_limit("10/minute", scope="pair")


def init_app(app) -> None:
    """Bind the limiter to ``app``.

    Every limit of the box is a view's decorator, which checks it when the view is called. The
    limiter also runs a pass before every request for default, application and blueprint limits;
    the box has none, so that pass finds nothing to check, yet it cost about a tenth of an API
    request's time. It is left out while that holds (checked against Flask-Limiter 4.1's names;
    another version, or a limit of those kinds, keeps the pass). The after-request hook stays: it
    deducts the failed logins (``deduct_when``) and writes the X-RateLimit headers."""
    limiter.init_app(app)
    manager = limiter.limit_manager
    check = getattr(limiter, "_check_request_limit", None)
    hooks = app.before_request_funcs.get(None, [])
    only_decorators = not (manager.default_limits or manager.application_limits
                           or getattr(manager, "_blueprint_limits", True))
    if only_decorators and check in hooks:
        hooks.remove(check)
