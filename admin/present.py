"""The admin page's words for the parts' health and the audit trail: plain Spanish from the
catalog, the sede's local times ("hace 3 min"), language names; never a raw dict, list or ISO time."""
from __future__ import annotations

from datetime import datetime

from turnero.i18n import LANGUAGE_NAMES
from turnero.i18n import translate as t

RECENT_SECONDS = 12 * 3600  # younger than this: "hace 3 min"; older: the local date and time


def moment(value, clock) -> str | None:
    """A Unix time or an RFC 3339 text as the sede's local time, in words when recent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value).timestamp()
        except ValueError:
            return value
    ago = clock() - float(value)
    local = clock.local(float(value))
    if 0 <= ago < 60:
        return t("admin.when_now")
    if 0 <= ago < 3600:
        return t("admin.when_minutes", minutes=int(ago // 60))
    if 0 <= ago < RECENT_SECONDS:
        return t("admin.when_hours", hours=int(ago // 3600), time=local.strftime("%H:%M"))
    return local.strftime("%d/%m/%Y %H:%M")


def languages(codes) -> str:
    return ", ".join(LANGUAGE_NAMES.get(code, code) for code in codes or ())


def duration(seconds) -> str:
    minutes = int(float(seconds) // 60)
    return t("admin.duration_minutes", minutes=minutes) if minutes else t("admin.duration_seconds",
                                                                          seconds=int(float(seconds)))


def _status(part: str, data: dict) -> str:
    state = data.get("state", data.get("status"))
    return t(f"admin.{part}_state_{state}", default=t("admin.state_other", state=state))


def health_lines(part: str, data: dict, clock) -> list[str]:
    """One part's health (printer, voice, sync) as short Spanish sentences."""
    if not data:
        return []
    lines = [_status(part, data)]
    for name, value in data.items():
        if name in ("status", "state") or value is None or value == "" or value == []:
            continue
        if data.get("status") == "disabled" and name == "type":
            continue  # "no printer is configured" already says it
        if name.endswith("_at") or name in ("last_success",):
            value = moment(value, clock)
        elif name in ("languages", "unspoken_languages"):
            value = languages(value)
        elif name.endswith("_seconds"):
            value = duration(value)
        elif name == "detail" and value == "unchecked":
            continue
        elif isinstance(value, bool):
            value = t("admin.yes" if value else "admin.no")
        elif isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, dict):
            value = ", ".join(f"{key} {item}" for key, item in value.items())
        label = t(f"admin.health_{part}_{name}", default=t(f"admin.health_{name}", default=name.replace("_", " ")))
        lines.append(t("admin.health_line", label=label, value=value))
    return lines


def role_name(role: str) -> str:
    """A user's or device's role in words ("Personal", "Kiosco"); an unknown role as recorded."""
    return t(f"admin.role_{role}", default=role)


def service_names(settings, codes) -> str:
    """Service codes as their Spanish names; none means every service."""
    if not codes:
        return t("admin.all_services")
    return ", ".join(settings.services[code].name() if code in settings.services else code for code in codes)


def audit_action(action: str, url_map) -> str:
    """An audit row's action in plain Spanish ("Alta de usuario"): a request's through the endpoint
    its method and path reach (the path names the user or device, the endpoint the act); an
    automatic row's through its events. What the catalog lacks is shown as recorded."""
    if action.startswith("read "):  # a read of personal data (turnero.web.personal): what was read
        return t("admin.audit_read", what=audit_action(action.removeprefix("read "), url_map))
    method, _, path = action.partition(" ")
    if path.startswith("/"):
        from werkzeug.exceptions import HTTPException

        try:
            endpoint, _ = url_map.bind("localhost").match(path, method=method)
        except HTTPException:  # a route that no longer exists: the raw action says it
            return action
        return t(f"admin.audit_action.{endpoint}", default=action)
    if action.startswith(("ticket.", "counter.", "day.")):
        kinds = action.split(",")
        return t("admin.audit_system", events=", ".join(t(f"admin.audit_event.{kind}", default=kind)
                                                        for kind in kinds))
    return t(f"admin.audit_action.{action}", default=action)
