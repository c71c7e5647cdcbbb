"""The voice studio (/admin/voz): people of the sede record the words of a call in their
language (Quechua, Aymara, Shipibo-Konibo...), and a second person reviews each recording before
the hall hears it (issue #13).

Same roles and patterns as the translation studio (:mod:`admin.studio`): admin and ``traductor``;
pages rendered here, JSON calls from ``voice_studio.js`` with the session cookie and the CSRF
header, errors as ``{"error": {"code", "message"}}``. The browser records WAV itself (Chromium's
MediaRecorder makes WebM/Opus, which sox here cannot read) and posts the bytes; the box converts
them with sox into the pack (:mod:`turnero.voice_packs`), choosing every file name itself.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, make_response, render_template, request, send_file
from flask_wtf.csrf import CSRFError

from admin.present import moment
from admin.studio import _csrf_error, _domain_error, _language
from turnero import i18n
from turnero.errors import DomainError, invalid
from turnero.i18n import translate as t
from turnero.translations import target_languages
from turnero.voice_packs import MAX_UPLOAD_BYTES, VoiceStudio
from turnero.web.auth import action_audit, box, requires
from turnero.web.pages import staff_page

voice_studio = Blueprint("voice_studio", __name__)
# The translation studio's answers: JSON for the calls, the error page for a page.
voice_studio.register_error_handler(DomainError, _domain_error)
voice_studio.register_error_handler(CSRFError, _csrf_error)
ROLE = "traductor"  # granted to translators and admins
GROUPS = ("word", "letter", "digit", "counter")


def _studio() -> VoiceStudio:
    return VoiceStudio(box().store, box().settings)


def _refresh_voice() -> None:
    """This process's voice (no device process: tests, `turnero serve`) checks the packs now."""
    announcer = getattr(box(), "parts", {}).get("voice")
    backend = getattr(announcer, "backend", None)
    if backend is not None and hasattr(backend, "refresh"):
        backend.refresh()


def _label(key: str) -> str:
    """What to say for a key, in Spanish words the recorder understands."""
    kind, _, name = key.partition(":")
    if kind == "counter":
        counter = box().settings.counters.get(name)
        spoken = (counter.spoken_name or counter.name) if counter else name
        return t("admin.voice_studio.say_counter", name=spoken)
    if kind == "letter":
        return t("admin.voice_studio.say_letter", letter=name.upper())
    if kind == "digit":
        return t("admin.voice_studio.say_digit", digit=name, word=i18n.catalog("es").get(f"voice.digit.{name}", name))
    if kind == "word":
        return t("admin.voice_studio.say_word", word=i18n.catalog("es").get(f"voice.word.{name}", name))
    return key


def _present(item: dict) -> dict:
    clock = box().engine.clock
    state = item["state"]
    if state == "borrador":
        who = t("admin.voice_studio.who_draft", author=item["author"], when=moment(item["recorded_at"], clock))
    elif state == "revisado" and item.get("reviewer"):
        who = t("admin.studio.who_reviewed", author=item["author"], reviewer=item["reviewer"],
                when=moment(item["reviewed_at"], clock))
    elif state == "revisado":
        who = t("admin.voice_studio.who_installed")
    else:
        who = t("admin.voice_studio.who_from_spanish") if item["from_spanish"] else t("admin.voice_studio.who_missing")
    return {"key": item["key"], "kind": item["kind"], "state": state, "label": _label(item["key"]),
            "state_label": t("admin.voice_studio.state_missing" if state == "missing" else f"admin.studio.state_{state}"),
            "who": who, "author": item.get("author"), "recorded": state != "missing", "clip": item["clip"]}


def _pack_view(language: str) -> dict:
    view = _studio().items(language)
    reason = view["withheld"]
    status = t("admin.voice_studio.in_use") if reason is None else t(f"admin.voice_studio.withheld_{reason}")
    return {"status": status, "in_use": reason is None, "counts": view["counts"], "total": view["total"],
            "items": [_present(item) for item in view["items"]], "hand_installed": view["hand_installed"],
            "phrase": view["phrase"]}


@voice_studio.get("/admin/voz")
@staff_page(ROLE)
def choose():
    studio = _studio()
    languages = []
    for code in target_languages():
        view = studio.items(code) if box().settings.voice["pack_dir"] else None
        languages.append({"code": code, "name": i18n.LANGUAGE_NAMES[code], "view": view})
    return render_template("admin/voice_studio_languages.html", languages=languages,
                           pack_dir=bool(box().settings.voice["pack_dir"]))


@voice_studio.get("/admin/voz/<language>")
@staff_page(ROLE)
def language_page(language):
    language = _language(language)
    pack = _pack_view(language)
    groups = [(group, [item for item in pack["items"] if item["kind"] == group]) for group in GROUPS]
    response = make_response(render_template(
        "admin/voice_studio.html", language=language, language_name=i18n.LANGUAGE_NAMES[language], pack=pack,
        groups=[(group, items) for group, items in groups if items], me=g.principal.name, max_bytes=MAX_UPLOAD_BYTES))
    # The one page of the box that may use the microphone (the box's default policy forbids it).
    response.headers["Permissions-Policy"] = "camera=(), microphone=(self), geolocation=()"
    return response


@voice_studio.get("/admin/voz/<language>/clip")
@staff_page(ROLE)
def clip(language):
    language = _language(language)
    path = _studio().clip_path(language, request.args.get("clave", ""))
    if path is None:
        raise DomainError("no_recording", t("admin.voice_studio.no_recording"), 404)
    response = send_file(path, mimetype="audio/wav", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


def _key() -> str:
    key = request.args.get("clave")
    if not isinstance(key, str) or not key:
        raise invalid("invalid_body", t("admin.voice_studio.invalid_body"))
    return key


@voice_studio.post("/admin/voz/<language>/grabar")
@requires(ROLE)
def record(language):
    language = _language(language)
    key = _key()
    # The box's 64 KB body limit is for the API; a word's recording is larger. This view is exempt
    # from the app-wide CSRF check (which would read the body under the 64 KB limit first);
    # ``requires`` checks the CSRF header itself.
    request.max_content_length = MAX_UPLOAD_BYTES
    if (request.content_length or 0) > MAX_UPLOAD_BYTES:
        raise DomainError("upload_too_large", t("admin.voice_studio.too_large"), 413)
    data = request.get_data(cache=False)
    _studio().record(language, key, data, g.principal.name, audit=action_audit())
    _refresh_voice()
    return _answer(language, [key], "item")


@voice_studio.post("/admin/voz/<language>/revisar")
@requires(ROLE)
def review(language):
    language = _language(language)
    body = request.get_json(silent=True)
    # What the reviewer listened to: one clip ({key, clip}), or every clip the page showed ({all, heard}).
    if isinstance(body, dict) and body.get("all") is True and _names(body.get("heard")):
        keys, heard = None, body["heard"]
    elif isinstance(body, dict) and isinstance(body.get("key"), str) and isinstance(body.get("clip"), str):
        keys, heard = [body["key"]], {body["key"]: body["clip"]}
    else:
        raise invalid("invalid_body", t("admin.voice_studio.invalid_body"))
    reviewed = _studio().review(language, keys, g.principal.name, audit=action_audit(), heard=heard)
    _refresh_voice()
    return _answer(language, reviewed, "items")


@voice_studio.post("/admin/voz/<language>/descartar")
@requires(ROLE)
def discard(language):
    language = _language(language)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("key"), str):
        raise invalid("invalid_body", t("admin.voice_studio.invalid_body"))
    _studio().discard(language, body["key"], g.principal.name, audit=action_audit())
    _refresh_voice()
    return _answer(language, [body["key"]], "item")


def _names(value) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) and isinstance(name, str)
                                           for key, name in value.items())


def _answer(language: str, keys: list[str], field: str):
    """The changed items (``item``: the one) and the pack's summary, from one reading of the pack.
    A key the sede no longer needs (a counter removed since it was recorded) has no item."""
    pack = _pack_view(language)
    by_key = {item["key"]: item for item in pack["items"]}
    items = [by_key[key] for key in keys if key in by_key]
    return jsonify({field: (items[0] if items else None) if field == "item" else items, "status": pack["status"],
                    "in_use": pack["in_use"], "counts": pack["counts"], "total": pack["total"]})


def init_app(app):
    app.register_blueprint(voice_studio)
    app.extensions["csrf"].exempt(record)
