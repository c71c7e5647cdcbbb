"""The one rate limiter of the box (Flask-Limiter, in memory: one box, one worker process).

Views take their limits from here as decorators; ``create_app`` binds the limiter to the app.
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
