"""Admin views. Each POST validates, calls one account function, flashes the outcome, redirects."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from admin.present import audit_action, health_lines, moment, role_name, service_names
from admin.settings_file import (commit_settings_text, digest, line_of_key, read_settings_text,
                                 stage_settings_text, still_in_use)
from config import ConfigError, box_only_changes, load_settings
from turnero import audit
from turnero.errors import DomainError
from turnero.i18n import LANGUAGE_NAMES
from turnero.i18n import translate as t
from turnero.web import reload
from turnero.web.auth import action_audit, box
from turnero.web.pages import staff_page

admin = Blueprint("admin", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/admin/static")


def _outcome(action, success: str):
    """Run ``action``; flash its success or its readable error."""
    try:
        result = action()
    except DomainError as exc:
        flash(exc.message, "error")
        return None
    flash(success, "ok")
    return result


@admin.get("/admin")
@staff_page("admin")
def overview():
    return _overview()


# Python type names in a config error, said plainly.
_KINDS = {"int": "admin.kind_int", "float": "admin.kind_float", "str": "admin.kind_str", "bool": "admin.kind_bool",
          "list": "admin.kind_list", "dict": "admin.kind_dict"}


def _config_value(value) -> str:
    """A value from a config error as the admin wrote it in TOML (quoted text, true/false, [a, b])."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_config_value(item) for item in value) + "]"
    return str(value)


def explain_config_error(exc: ConfigError, text: str) -> tuple[str, int | None]:
    """What is wrong with a settings text, in Spanish and naming its line, and that line (or None)."""
    line = exc.line or line_of_key(text, exc.key)
    params = {name: _config_value(value) if name == "value" else value for name, value in exc.params.items()}
    params["key"] = exc.key or ""
    if exc.problem == "type":
        params["kind"] = t(_KINDS.get(exc.params.get("kind"), "admin.kind_other"))
    if exc.problem == "toml":
        problem = t("admin.config_toml", column=exc.column or "?")
    elif exc.problem:
        problem = t("admin.config_" + exc.problem).format(**params)  # {key} is translate()'s own argument
    else:  # a check without a code yet: its English words, without the file's path
        problem = str(exc).split(": ", 1)[-1]
    if line:
        return t("admin.config_at_line", line=line, problem=problem), line
    return problem, None


def _spanish_settings_error(data: dict, settings_problem: str | None) -> dict:
    """A part's health as the admin reads it: the sync's complaint about the edited file (English
    inside, for /healthz) is said with the page's own Spanish explanation of the same file, and its
    machine-readable code is left to /healthz."""
    if "settings_error" not in data:
        return data
    data = {name: value for name, value in data.items() if name != "settings_error_code"}
    data["settings_error"] = settings_problem or t("admin.settings_fixed_meanwhile")
    return data


def _overview(settings_text: str | None = None, settings_error: str | None = None, status: int = 200,
              error_line: int | None = None, pairing: dict | None = None):
    """The admin page; a refused settings save shows it again with the edit kept and the reason; a new
    pairing code is shown once, in the answer to the POST that made it (never in a URL)."""
    the_box = box()
    try:
        load_settings(the_box.data_dir)
        settings_problem = None
    except ConfigError as exc:  # the file on disk changed since start and no longer loads
        try:
            on_disk = read_settings_text(the_box.data_dir)
        except (OSError, UnicodeDecodeError):
            on_disk = ""
        settings_problem = explain_config_error(exc, on_disk)[0]
    clock = the_box.engine.clock
    health = {name: health_lines(name, _spanish_settings_error(provider(), settings_problem), clock)
              for name, provider in the_box.health.items()}
    intact, audited, detail = audit.verify(the_box.store)
    return render_template(
        "admin/overview.html", settings=the_box.settings, users=the_box.accounts.users(),
        devices=the_box.accounts.devices(), health=health, settings_problem=settings_problem,
        discreet=[service for service in the_box.settings.services.values() if service.discreet],
        # Spanish is everyone's: the choice is of the other languages the sede serves in.
        attended=[(code, LANGUAGE_NAMES.get(code, code)) for code in the_box.settings.sede["languages"] if code != "es"],
        pairing=pairing,
        audit_intact=intact, audit_count=audited, audit_detail=detail,
        audit_rows=audit.entries(the_box.store, 20), when=lambda value: moment(value, clock),
        role_name=role_name, action_name=lambda action: audit_action(action, current_app.url_map),
        service_names=lambda codes: service_names(the_box.settings, codes), tests=current_app.extensions.get("turnero.device_tests", {}),
        settings_text=read_settings_text(the_box.data_dir) if settings_text is None else settings_text,
        settings_error=settings_error, error_line=error_line, can_reload=reload.can_reload()), status


@admin.post("/admin/settings")
@staff_page("admin")
def save_settings():
    """Replace sede.toml with the edited text if it loads; record it; apply it with a fresh worker."""
    the_box = box()
    text = request.form.get("settings", "").replace("\r\n", "\n")  # a textarea posts CRLF
    before = read_settings_text(the_box.data_dir)
    if text == before:
        flash(t("admin.settings_unchanged"), "ok")
        return redirect(url_for("admin.overview") + "#configuracion")
    box_only = box_only_changes(before, text)
    if box_only:
        # SPEC.md: 422 setting_not_editable_here. Nothing is written and nothing is recorded.
        return _overview(text, t("admin.setting_not_editable_here", keys=", ".join(box_only)), 422)
    try:
        staged, settings = stage_settings_text(the_box.data_dir, text)
    except ConfigError as exc:
        problem, line = explain_config_error(exc, text)
        return _overview(text, t("admin.settings_rejected", problem=problem), 422, line)
    services, counters = still_in_use(the_box.engine, settings)
    if services or counters:
        staged.unlink(missing_ok=True)
        return _overview(text, t("admin.settings_in_use", services=", ".join(services) or "—",
                                 counters=", ".join(counters) or "—"), 409)
    try:
        audit.record(the_box.store, {**action_audit(), "target": "sede.toml",
                                     "details": {"before_sha256": digest(before),
                                                 "after_sha256": digest(staged.read_text(encoding="utf-8"))}})
    except BaseException:
        staged.unlink(missing_ok=True)  # not recorded, not applied
        raise
    commit_settings_text(the_box.data_dir, staged)
    if reload.can_reload():
        reload.request_reload()
        flash(t("admin.settings_applied"), "ok")
    else:
        flash(t("admin.settings_saved_restart"), "ok")
    return redirect(url_for("admin.overview") + "#configuracion")


@admin.post("/admin/users")
@staff_page("admin")
def add_user():
    form = request.form
    _outcome(lambda: box().accounts.add_user(form.get("username", "").strip(), form.get("role", ""),
                                             form.get("password", ""), audit=action_audit()),
             t("admin.user_created", name=form.get("username", "").strip()))
    return redirect(url_for("admin.overview") + "#usuarios")


@admin.post("/admin/users/<username>/active")
@staff_page("admin")
def set_active(username):
    active = request.form.get("active") == "1"
    _outcome(lambda: box().accounts.set_active(username, active, audit=action_audit()),
             t("admin.user_activated" if active else "admin.user_deactivated", name=username))
    return redirect(url_for("admin.overview") + "#usuarios")


@admin.post("/admin/users/<username>/password")
@staff_page("admin")
def set_password(username):
    _outcome(lambda: box().accounts.set_password(username, request.form.get("password", ""),
                                                      audit=action_audit()),
             t("admin.password_changed", name=username))
    return redirect(url_for("admin.overview") + "#usuarios")


@admin.post("/admin/users/<username>/services")
@staff_page("admin")
def set_services(username):
    """The discreet services whose personal data this staff member may see (need to know)."""
    discreet = {code for code, service in box().settings.services.items() if service.discreet}
    chosen = [code for code in request.form.getlist("services") if code in discreet]
    _outcome(lambda: box().accounts.set_services(username, chosen, audit=action_audit()),
             t("admin.access_saved", name=username))
    return redirect(url_for("admin.overview") + "#usuarios")


@admin.post("/admin/users/<username>/languages")
@staff_page("admin")
def set_languages(username):
    """The languages this user attends in without an interpreter (Ley 29735)."""
    _outcome(lambda: box().accounts.set_languages(username, request.form.getlist("languages"),
                                                  box().settings.sede["languages"], audit=action_audit()),
             t("admin.languages_saved", name=username))
    return redirect(url_for("admin.overview") + "#usuarios")


@admin.post("/admin/devices/pair")
@staff_page("admin")
def pair_device():
    form = request.form
    services = [code for code in form.getlist("services") if code in box().settings.services]
    name = form.get("name", "").strip()
    code = _outcome(lambda: box().accounts.create_pairing_code(name, form.get("role", ""), services,
                                                               created_by=g.principal.name,
                                                               audit=action_audit()),
                    t("admin.pairing_created", name=name))
    if code is None:
        return redirect(url_for("admin.overview") + "#equipos")
    # Shown in this answer only: a code in a redirect URL would stay in the history and the logs.
    return _overview(pairing={"code": code, "name": name, "role": form.get("role", ""), "services": services})


@admin.post("/admin/devices/<name>/revoke")
@staff_page("admin")
def revoke_device(name):
    if box().accounts.revoke_device(name, audit=action_audit()):
        flash(t("admin.device_revoked", name=name), "ok")
    else:
        flash(t("admin.no_such_device", name=name), "error")
    return redirect(url_for("admin.overview") + "#equipos")


@admin.post("/admin/test/<part>")
@staff_page("admin")
def device_test(part):
    """Printer and voice tests offered by those parts (registered as app.extensions entries)."""
    test = current_app.extensions.get("turnero.device_tests", {}).get(part)
    if test is None:
        flash(t("admin.test_unavailable"), "error")
    else:
        try:
            flash(test(), "ok")
        except DomainError as exc:
            flash(exc.message, "error")
    return redirect(url_for("admin.overview") + "#equipos-prueba")
