"""The kiosk part: the touchscreen page where people take a ticket, and the public status page.

``/kiosk`` is a device page (a paired kiosk's cookie); it talks to the JSON API like any client.
``/t/<public_id>`` is public: the code, status, place in line and wait of one ticket, nothing
personal, updated live over Socket.IO (room ``public:<public_id>``) with polling as a fallback.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, render_template
from flask_wtf.csrf import generate_csrf

from kiosk.qr import qr_svg
from turnero.web.auth import box
from turnero.engine import MAX_COMMENT
from turnero.errors import DomainError
from turnero.i18n import LANGUAGE_NAMES, catalog, messages, plural_language
from turnero.wait_words import wait_words
from turnero.web.pages import device_page

kiosk = Blueprint("kiosk", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/kiosk/static")
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def complaints_qr() -> str | None:
    """The Libro de Reclamaciones as a QR, where the sede gives its address."""
    url = box().settings.sede["complaints_url"]
    return qr_svg(url) if url else None


@kiosk.get("/kiosk")
@device_page("kiosk")
def kiosk_page():
    settings = box().settings
    # Offer a language only where its kiosk catalog exists: a person who picks Runasimi must not get
    # a screen of Spanish (``turnero i18n-check`` lists what each enabled language lacks).
    languages = [{"code": code, "name": LANGUAGE_NAMES.get(code, code)} for code in settings.sede["languages"]
                 if code == "es" or any(key.startswith("kiosk.") for key in catalog(code))]
    config = {
        "languages": languages,
        "messages": {code: messages(code, "kiosk.") for code in settings.sede["languages"]},
        "plural_languages": {code: plural_language(code) for code in settings.sede["languages"]},
        "inactivity_seconds": settings.kiosk["inactivity_seconds"],
        "privacy_url": settings.kiosk["privacy_url"],
        "complaints_url": settings.sede["complaints_url"],
        "sede": settings.sede["name"],
    }
    privacy_qr = qr_svg(settings.kiosk["privacy_url"]) if settings.kiosk["privacy_url"] else None
    return render_template("kiosk/kiosk.html", config=config, privacy_qr=privacy_qr, complaints_qr=complaints_qr(),
                           lang="es")


@kiosk.get("/kiosk/qr/<public_id>.svg")
@device_page("kiosk")
def ticket_qr(public_id):
    if not PUBLIC_ID.fullmatch(public_id):
        raise DomainError("unknown_ticket", "No existe ese turno.", 404)
    response = Response(qr_svg(box().engine.views.status_url(public_id)), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@kiosk.get("/kiosk/print/<ticket_id>")
@device_page("kiosk")
def print_status(ticket_id):
    """What became of a ticket's slip, for the confirmation screen (no personal data)."""
    ticket = box().engine.get_ticket(ticket_id)
    return jsonify({"print": ticket["print"], "printer": box().health["printer"]()
                    if "printer" in box().health else {"status": "disabled"}})


@kiosk.get("/kiosk/csrf")
@device_page("kiosk")
def csrf_token():
    """A fresh CSRF token, for a kiosk page that outlived its session (box restored from backup)."""
    return jsonify({"csrf": generate_csrf()})


@kiosk.get("/t/<public_id>")
def public_ticket(public_id):
    if not PUBLIC_ID.fullmatch(public_id):
        raise DomainError("unknown_ticket", "No existe ese turno.", 404)
    engine = box().engine
    ticket = engine.public_ticket(public_id)
    lang = ticket["language"] if ticket["language"] in LANGUAGE_NAMES else "es"
    survey = engine.survey_state(public_id)
    return render_template("kiosk/public.html", ticket=ticket, public_id=public_id, lang=lang,
                           eta_text=wait_words("public", ticket, lang), complaints_url=box().settings.sede["complaints_url"],
                           complaints_qr=complaints_qr(),
                           survey=survey, comment_limit=MAX_COMMENT,
                           config={"public_id": public_id, "ticket": ticket, "messages": messages(lang, "public."),
                                   "plural_language": plural_language(lang),
                                   "survey": survey})


def init_app(app):
    app.register_blueprint(kiosk)
