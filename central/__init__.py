"""The reference central receiver (SPEC.md, "Sync protocol"): a small separate Flask app that
takes every sede's events exactly once, hands out appointments, and shows KPIs per sede and for
the country. SQLite by default, PostgreSQL with a ``postgresql://`` URL. Console script:
``turnero-central`` (see :mod:`central.cli`).
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from central.db import Database
from central.service import CentralError
from turnero.i18n import LANGUAGE_NAMES, translate

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024 * 1024  # 500 events of a few KiB each, with room to spare


def create_app(database_url: str | None = None, config: dict | None = None, create_schema: bool = True) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, TARGET_WAIT_MINUTES=30, LANGUAGE="es")
    app.config.update(config or {})
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    db = Database(database_url or app.config.get("DATABASE_URL"))
    if create_schema:
        db.create_schema()
    app.extensions["central_db"] = db
    app.jinja_env.globals["t"] = lambda key, default=None, **params: translate(key, app.config["LANGUAGE"], default,
                                                                                **params)
    _register_filters(app)

    from central.web import bp

    app.register_blueprint(bp)
    _register_errors(app)
    return app


def _register_filters(app: Flask):
    from central import wording

    words = app.jinja_env.globals["t"]  # the catalog in the configured language
    app.jinja_env.filters["ago"] = lambda moment, now=None: wording.ago(moment, words, now)
    app.jinja_env.filters["local"] = lambda moment, zone: wording.local(moment, zone, words)
    app.jinja_env.filters["day"] = lambda text: wording.day(text, words)
    app.jinja_env.filters["zone"] = wording.zone_name
    app.jinja_env.filters["mmss"] = wording.mmss
    app.jinja_env.filters["pct"] = wording.share
    app.jinja_env.filters["language"] = lambda code: LANGUAGE_NAMES.get(code, code) if code else words(
        "central.no_language")


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _error(code: str, message: str, status: int):
    """JSON for the API (its English message, as the boxes and scripts read it); a page in the
    catalog's words for a person, with the code kept small for support."""
    if _wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    words = current_app.jinja_env.globals["t"]
    message = words(f"central.error.{code}", default=words("central.error.other"))
    return render_template("central/error.html", code=code, message=message, status=status), status


def _register_errors(app: Flask):
    @app.errorhandler(CentralError)
    def central_error(error: CentralError):
        response = make_response(_error(error.code, error.message, error.status))
        if error.code == "login_required":  # a browser asks for the viewer's name and token
            response.headers["WWW-Authenticate"] = 'Basic realm="turnero-central", charset="UTF-8"'
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        return _error(codes.get(error.code, "http_error"), error.description or error.name, error.code)

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unexpected error")
        return _error("internal_error", "Internal error.", 500)
