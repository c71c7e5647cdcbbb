"""The hall display's routes: the page, the announcement of a call, and the voice files."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, send_from_directory

from display.voice import display_wait_seconds
from turnero.web.auth import box, current_principal, requires
from turnero.errors import DomainError
from turnero.i18n import messages
from turnero.web.pages import device_page

display = Blueprint("display", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/display/static")
VOICE_FILE = re.compile(r"[0-9a-f]{32}|chime")


def announcer():
    """The box's :class:`display.voice.Announcer` (set up by ``display.init_app``)."""
    return current_app.extensions["turnero.voice"]


@display.get("/display")
@device_page("display")
def page():
    settings = box().settings
    principal = g.principal
    voice = settings.voice
    config = {
        "sede": settings.sede["code"], "device": principal.name, "timezone": settings.sede["timezone"],
        "previous_calls": settings.display["previous_calls"], "server_now_ms": int(box().engine.clock() * 1000),
        "voice": voice["enabled"] and voice["engine"] != "none", "repeat": voice["repeat"],
        "wait_seconds": display_wait_seconds(voice), "chime_url": "/display/voice/chime.wav",
        "audio": request.args.get("audio", "1") != "0",
        "services": principal.get("services") or [],
        "messages": messages("es", "display."),
    }
    return render_template("display/page.html", config=config, sede_name=settings.sede["name"],
                           message=settings.display["message"], previous_calls=settings.display["previous_calls"])


@display.get("/api/v1/announcements/<seq>")
@requires("display", "staff")
def announcement(seq: str):
    """What the display plays for call event ``seq``: chime, phrase WAVs, repeat count.

    ``?wait=<seconds>`` waits (bounded) for a phrase still being synthesized.
    """
    voice = announcer()
    # isascii: "²" is a digit to str.isdigit() but not to int().
    event = voice.call_event(int(seq)) if seq.isascii() and seq.isdigit() and len(seq) < 19 else None
    principal = current_principal()
    wanted = principal.get("services") if principal.role == "display" else None
    if event is None or (wanted and event["data"]["ticket"]["service"] not in wanted):
        raise DomainError("not_found", f"No hay un llamado con seq {seq}.", 404)
    try:
        wait = float(request.args.get("wait", "0"))
    except ValueError:
        raise DomainError("invalid_type", "El parámetro 'wait' debe ser un número.", 400) from None
    wait = max(0.0, min(wait, display_wait_seconds(box().settings.voice)))
    return jsonify(voice.announcement(event, wait))


@display.get("/display/voice/<name>.wav")
@requires("display", "staff")
def voice_file(name: str):
    if not VOICE_FILE.fullmatch(name):
        abort(404)
    if name == "chime":
        announcer().ensure_chime()
    # The name is a hash of what is said, so the file never changes: let the TV keep it.
    return send_from_directory(announcer().cache_dir, f"{name}.wav", mimetype="audio/wav", max_age=86400)
