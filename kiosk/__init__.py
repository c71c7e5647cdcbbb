"""The kiosk part: the touchscreen page where people take a ticket, and the public status page.

``/kiosk`` is a device page (a paired kiosk's cookie); it talks to the JSON API like any client.
``/t/<public_id>`` is public: the code, status, place in line and wait of one ticket, nothing
personal, updated live over Socket.IO (room ``public:<public_id>``) with polling as a fallback.
"""
from __future__ import annotations

import re

from flask import (Blueprint, Response, abort, current_app, jsonify, render_template, request, send_file,
                   send_from_directory)
from flask_wtf.csrf import generate_csrf

from kiosk.qr import qr_svg
from kiosk.speech import PICTOGRAM_TYPES, kiosk_config, pictogram_path, speech_candidates
from turnero.web.auth import box, requires
from turnero.engine import MAX_COMMENT
from turnero.errors import DomainError
from turnero.i18n import LANGUAGE_NAMES, messages, plural_language, translate
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
    # A language is offered once its kiosk and slip strings are all reviewed (kiosk/speech.py): a
    # person who picks Runasimi must not get a screen of Spanish.
    config = {
        **kiosk_config(settings),
        "speak_steps": settings.kiosk["speak_steps"],
        "inactivity_seconds": settings.kiosk["inactivity_seconds"],
        "privacy_url": settings.kiosk["privacy_url"],
        "complaints_url": settings.sede["complaints_url"],
        "sede": settings.sede["name"],
    }
    privacy_qr = qr_svg(settings.kiosk["privacy_url"]) if settings.kiosk["privacy_url"] else None
    return render_template("kiosk/kiosk.html", config=config, privacy_qr=privacy_qr, complaints_qr=complaints_qr(),
                           lang="es")


@kiosk.get("/kiosk/config")
@device_page("kiosk")
def live_config():
    """The languages, texts and pictograms as they are now: a kiosk runs for weeks, and a language
    reviewed meanwhile appears at its next return to the start screen."""
    return jsonify(kiosk_config(box().settings))


@kiosk.get("/kiosk/pictogram/<name>")
@device_page("kiosk")
def pictogram(name):
    # Only a file a service names, inside the folder set on the box: the web never names a path.
    path = pictogram_path(box().settings, name)
    if path is None:
        raise DomainError("not_found", "No existe ese pictograma.", 404)
    response = send_file(path, mimetype=PICTOGRAM_TYPES[path.suffix[1:].lower()], max_age=3600, conditional=True)
    # An SVG opened on its own must not run anything with the box's origin.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


SPEECH_WAIT_MAX = 3.0
VOICE_FILE = re.compile(r"[0-9a-f]{32}")


@kiosk.get("/api/v1/kiosk/speech")
@requires("kiosk")
def speech():
    """A step's text as audio: 200 with its URL when ready, 202 while it is being made (ask again)."""
    settings = box().settings
    step, language = request.args.get("step", ""), request.args.get("lang", "es")
    candidates = speech_candidates(step, language, settings.sede["languages"])
    if candidates is None:
        raise DomainError("unknown_step", f"No hay un paso {step[:40]!r} que decir.", 404)
    try:
        wait = max(0.0, min(float(request.args.get("wait", "0")), SPEECH_WAIT_MAX))
    except ValueError:
        raise DomainError("invalid_type", "El parámetro 'wait' debe ser un número.", 400) from None
    voice = current_app.extensions.get("turnero.voice")
    result = voice.kiosk_speech(candidates, wait) if voice is not None else {"status": "unavailable"}
    if result["status"] in ("failed", "unavailable"):
        raise DomainError("speech_unavailable", translate("kiosk.listen_unavailable"), 503,
                          detail=result.get("error"))
    spoken = result["language"]
    body = {"step": step, "status": result["status"], "requested_language": language, "language": spoken,
            "voice": result["voice"], "source": result["source"], "fallback": spoken != language,
            "note": translate("kiosk.listen_in_spanish", language) if spoken != language else None,
            "url": f"/kiosk/speech/{result['file']}.wav" if result["status"] == "ready" else None,
            "duration": result.get("duration")}
    return jsonify(body), 200 if result["status"] == "ready" else 202


@kiosk.get("/kiosk/speech/<name>.wav")
@device_page("kiosk")
def speech_file(name):
    voice = current_app.extensions.get("turnero.voice")
    if voice is None or not VOICE_FILE.fullmatch(name):
        abort(404)
    # The name is a hash of what is said: the file never changes.
    return send_from_directory(voice.cache_dir, f"{name}.wav", mimetype="audio/wav", max_age=86400)


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
