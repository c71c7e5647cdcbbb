"""The translation studio (/admin/traducciones): the people of the sede who speak a language
translate the UI strings, and a second person reviews them before citizens see them.

For translators and admins only (role ``traductor``: this and nothing else). Pages are rendered
here; saves and reviews are JSON calls from ``studio.js`` (session cookie, CSRF header), answered
in the one error format ``{"error": {"code", "message"}}``.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from admin.present import moment
from turnero import i18n
from turnero.errors import DomainError, invalid
from turnero.i18n import translate as t
from turnero.translation_po import export_po, import_po
from turnero.translations import SURFACES, Translations, target_languages, unit_state, units
from turnero.web.auth import action_audit, box, requires
from turnero.web.pages import staff_page

studio = Blueprint("studio", __name__)
ROLE = "traductor"  # granted to translators and admins
FILTERS = ("all", "missing", "borrador", "revisado")
MAX_PO_BYTES = 2 * 1024 * 1024  # a whole catalog with its Spanish and comments is ~200 KB


def _translations() -> Translations:
    return Translations(box().store)


def _language(language: str) -> str:
    if language not in target_languages():
        raise DomainError("unknown_language", t("admin.studio.unknown_language", code=language), 404)
    return language


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


@studio.errorhandler(DomainError)
def _domain_error(error: DomainError):
    if _wants_json():
        return jsonify({"error": {"code": error.code, "message": error.message, **error.details}}), error.status
    return render_template("error.html", code=error.code, message=error.message, status=error.status), error.status


def _csrf_failed() -> DomainError:
    return DomainError("csrf_failed", "Falta el token CSRF o venció; recargue la página.", 400)


@studio.errorhandler(CSRFError)
def _csrf_error(_error):
    return _domain_error(_csrf_failed())


def who(entry: dict | None, shipped: bool) -> str:
    """Who wrote and who reviewed a string, and when, in words."""
    clock = box().engine.clock
    if entry is None:
        return t("admin.studio.who_shipped") if shipped else t("admin.studio.who_missing")
    if entry["state"] == "borrador":
        return t("admin.studio.who_draft", author=entry["author"], when=moment(entry["updated_at"], clock))
    return t("admin.studio.who_reviewed", author=entry["author"], reviewer=entry["reviewer"],
             when=moment(entry["reviewed_at"], clock))


def _form(key: str, source: str, entries: dict, files: dict) -> dict:
    entry = entries.get(key)
    state = entry["state"] if entry else ("revisado" if key in files else "missing")
    return {"key": key, "source": source, "text": entry["text"] if entry else files.get(key, ""), "state": state,
            "state_label": t(f"admin.studio.state_{state}"), "who": who(entry, key in files),
            "author": entry["author"] if entry else None, "stored": entry is not None,
            "form": key.rsplit(".", 1)[-1]}


@studio.get("/admin/traducciones")
@staff_page(ROLE)
def choose():
    store = _translations()
    languages = []
    for code in target_languages():
        totals = {"total": 0, "revisado": 0, "borrador": 0, "missing": 0}
        for counts in store.progress(code).values():
            for name, value in counts.items():
                totals[name] += value
        languages.append({"code": code, "name": i18n.LANGUAGE_NAMES[code], **totals})
    return render_template("admin/studio_languages.html", languages=languages)


@studio.get("/admin/traducciones/<language>")
@staff_page(ROLE)
def language_page(language):
    language = _language(language)
    wanted = request.args.get("estado", "all")
    wanted = wanted if wanted in FILTERS else "all"
    store = _translations()
    entries, files = store.entries(language), i18n.shipped(language)
    progress = store.progress(language)
    surfaces = {surface: [] for surface, _ in SURFACES}
    for unit in units(language):
        state = unit_state(unit, entries, files)
        if wanted != "all" and state != wanted:
            continue
        surfaces[unit["surface"]].append({"key": unit["key"], "plural": unit.get("plural", False), "state": state,
                                          "forms": [_form(key, source, entries, files)
                                                    for key, source in unit["forms"]]})
    return render_template("admin/studio.html", language=language, language_name=i18n.LANGUAGE_NAMES[language],
                           surfaces=[(surface, surfaces[surface], progress[surface]) for surface, _ in SURFACES],
                           wanted=wanted, filters=FILTERS, me=g.principal.name,
                           has_plural_rule=i18n.plural_language(language) == language, report=None)


def _body_key() -> tuple[dict, str]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("key"), str):
        raise invalid("invalid_body", t("admin.studio.invalid_body"))
    return body, body["key"]


def _answer(language: str, key: str):
    store = _translations()
    entries, files = store.entries(language), i18n.shipped(language)
    source = i18n.shipped(i18n.DEFAULT).get(key, "")
    return jsonify(_form(key, source, entries, files))


@studio.post("/admin/traducciones/<language>/guardar")
@requires(ROLE)
def save(language):
    language = _language(language)
    body, key = _body_key()
    _translations().save(language, key, body.get("text"), g.principal.name, audit=action_audit())
    return _answer(language, key)


@studio.post("/admin/traducciones/<language>/revisar")
@requires(ROLE)
def review(language):
    language = _language(language)
    body, key = _body_key()
    seen = body.get("text") if isinstance(body.get("text"), str) else None
    _translations().review(language, key, g.principal.name, seen, audit=action_audit())
    return _answer(language, key)


@studio.post("/admin/traducciones/<language>/descartar")
@requires(ROLE)
def discard(language):
    language = _language(language)
    _, key = _body_key()
    _translations().discard(language, key, g.principal.name, audit=action_audit())
    return _answer(language, key)


@studio.get("/admin/traducciones/<language>.po")
@staff_page(ROLE)
def export(language):
    language = _language(language)
    return Response(export_po(_translations(), language), mimetype="text/x-gettext-translation",
                    headers={"Content-Disposition": f'attachment; filename="turnero-{language}.po"'})


@studio.post("/admin/traducciones/<language>/importar")
@staff_page(ROLE)
def import_file(language):
    language = _language(language)
    # The box's 64 KB limit is for API bodies; this form is exempt from the app-wide CSRF check
    # (it reads the body before any view could raise the limit) and checked here instead.
    request.max_content_length = MAX_PO_BYTES
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (CSRFError, ValidationError):
        raise _csrf_failed() from None
    upload = request.files.get("po")
    if upload is None or not upload.filename:
        raise invalid("no_file", t("admin.studio.no_file"))
    report = import_po(_translations(), language, upload.read(MAX_PO_BYTES + 1), g.principal.name,
                       audit=action_audit())
    return render_template("admin/studio_import.html", language=language,
                           language_name=i18n.LANGUAGE_NAMES[language], report=report)


@studio.post("/admin/traducciones/<language>/publicar")
@staff_page(ROLE)
def publish(language):
    """Propose the language's reviewed strings (and reviewed voice pack) to the central, so every
    sede can receive them once the central office approves (issue #13). The sync part does the
    talking: it registers the call (``turnero.language_publish``) when it is wired in."""
    language = _language(language)
    publish_language = current_app.extensions.get("turnero.language_publish")
    if publish_language is None:
        raise DomainError("sync_disabled", t("admin.studio.publish_disabled"), 409)
    sent = publish_language(language, g.principal.name)
    message = t("admin.studio.published", count=len(sent))
    if _wants_json():
        return jsonify({"sent": sent, "message": message})
    return render_template("admin/studio_published.html", language=language,
                           language_name=i18n.LANGUAGE_NAMES[language], sent=sent, message=message)


def init_app(app):
    app.register_blueprint(studio)
    app.extensions["csrf"].exempt(import_file)
