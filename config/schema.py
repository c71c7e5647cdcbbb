"""Every setting ``sede.toml`` accepts, with its type, default and check.

One place lists them, so an unknown key is an error and a new setting is one line here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

REQUIRED = object()


class Problem(str):
    """A rule's English complaint that also carries a short code and its values, so a page can
    say it in another language (the admin's settings editor)."""

    def __new__(cls, text: str, code: str, **params):
        problem = super().__new__(cls, text)
        problem.code, problem.params = code, params
        return problem


@dataclass(frozen=True)
class Key:
    kind: type | tuple
    default: Any = REQUIRED
    rule: Callable[[Any], str | None] | None = None  # returns a problem or None
    # Names a command, an executable or a file path: changed only in the file on the box (or by
    # root's CLI), never from the web, which must not be a way to run or overwrite anything.
    box_only: bool = False

    def check(self, value, where: str, given: bool):
        from config import ConfigError, _key_of

        key = _key_of(where)
        if value is REQUIRED:
            raise ConfigError(f"{where}: required", key=key, problem="required")
        if value is None and self.default is None:
            return None
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise ConfigError(f"{where}: expected {kinds[0].__name__}, got {value!r}", key=key, problem="type",
                              params={"kind": kinds[0].__name__, "value": value})
        if self.rule and given:
            problem = self.rule(value)
            if problem:
                raise ConfigError(f"{where}: {problem}", key=key, problem=getattr(problem, "code", None),
                                  params=getattr(problem, "params", None))
        return value

    def from_text(self, text: str, where: str):
        from config import ConfigError

        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        try:
            if bool in kinds:
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if int in kinds:
                return int(text)
            if float in kinds:
                return float(text)
            if list in kinds:
                return [part.strip() for part in text.split(",") if part.strip()]
        except ValueError:
            raise ConfigError(f"{where}: expected {kinds[0].__name__}, got {text!r}") from None
        return text


def _range(low, high):
    return lambda value: None if low <= value <= high else Problem(
        f"must be between {low} and {high}, got {value}", "range", low=low, high=high, value=value)


def _one_of(*choices):
    return lambda value: None if value in choices else Problem(
        f"must be one of {', '.join(map(str, choices))}; got {value!r}", "one_of",
        choices=", ".join(map(str, choices)), value=value)


def _pattern(regex, what):
    compiled = re.compile(regex)
    return lambda value: None if compiled.fullmatch(value) else Problem(f"{what}; got {value!r}", "pattern",
                                                                         value=value)


def _hours(value):
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)", value)
    if not match or value[:5] >= value[6:]:
        return Problem(f"must look like '08:00-16:30' (open before close); got {value!r}", "hours", value=value)
    return None


TABLES = {
    "sede": {
        "code": Key(str, rule=_pattern(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", "letters, digits, '-' or '_'")),
        "name": Key(str),
        "timezone": Key(str, "America/Lima"),
        "public_base_url": Key(str, "http://127.0.0.1:8080",
                               rule=_pattern(r"https?://[^\s/]+(/[^\s]*)?", "must be an http(s) URL")),
        "languages": Key(list, ["es"]),
        # Anti-starvation: after this many preferential calls in a row at a counter, one normal
        # ticket is called if any waits. 0 keeps the plain legal order.
        "preferential_streak": Key(int, 0, _range(0, 100)),
        "session_hours": Key(int, 12, _range(1, 72)),
        "board_size": Key(int, 7, _range(1, 50)),
        # Reverse proxies (TLS terminators) in front of the box whose X-Forwarded-For/-Proto are
        # believed. 0: none; the client address is the connection's.
        "trusted_proxies": Key(int, 0, _range(0, 5)),
        # The entity's official Libro de Reclamaciones (a web address): shown as a link and a QR on
        # the status page and the kiosk's help, and printed on the slip when [printer] says so.
        "complaints_url": Key(str, "", rule=lambda value: None if not value or re.fullmatch(
            r"https?://[^\s/]+(/[^\s]*)?", value) else Problem(f"must be an http(s) URL or empty; got {value!r}",
                                                               "url", value=value)),
    },
    "printer": {
        "type": Key(str, "none", _one_of("network", "usb", "serial", "cups", "file", "emulated", "none")),
        "host": Key(str, ""),
        "port": Key(int, 9100, _range(1, 65535)),
        "profile": Key(str, "default"),
        "codepage": Key(str, "CP858"),
        "width_mm": Key(int, 80, _one_of(58, 80)),
        "timeout_seconds": Key((int, float), 3, _range(0.1, 60)),
        "usb_vendor_id": Key(int, 0),
        "usb_product_id": Key(int, 0),
        "serial_device": Key(str, "/dev/ttyUSB0", box_only=True),
        "serial_baudrate": Key(int, 19200),
        "cups_printer": Key(str, ""),
        "file_path": Key(str, "", box_only=True),
        "cut": Key(bool, True),
        "logo": Key(str, "", box_only=True),
        # Print the Libro de Reclamaciones address ([sede] complaints_url) at the foot of the slip.
        "complaints_on_slip": Key(bool, False),
    },
    "voice": {
        "enabled": Key(bool, True),
        "engine": Key(str, "espeak", _one_of("espeak", "pack", "none")),
        "voice_es": Key(str, "es-419"),
        "voice_qu": Key(str, "qu"),
        "repeat": Key(int, 1, _range(1, 5)),
        "rate": Key(int, 150, _range(60, 400)),
        "timeout_seconds": Key((int, float), 10, _range(1, 120)),
        "pack_dir": Key(str, "", box_only=True),
        "play_on_box": Key(bool, False),
        # Languages announced, in order; empty = Spanish, plus Quechua when the sede lists "qu".
        "languages": Key(list, []),
        # Synthesize the phrases of waiting tickets ahead of their call (lower call-to-voice latency).
        "precompute": Key(bool, True),
        # Advanced: another synthesis worker speaking the same JSON-lines protocol (empty = pyttsx3).
        "worker_command": Key(str, "", box_only=True),
    },
    "sync": {
        "central_url": Key(str, ""),
        "token": Key(str, ""),
        "interval_seconds": Key(int, 60, _range(1, 86400)),
        "retention_days": Key(int, 30, _range(0, 3650)),
        "batch_size": Key(int, 500, _range(1, 500)),
        "timeout_seconds": Key((int, float), 10, _range(0.5, 120)),
        # First retry wait; it doubles per failure (with jitter) up to 5 minutes. Tests make it short.
        "backoff_base_seconds": Key((int, float), 2, _range(0.01, 300)),
    },
    "kiosk": {
        "inactivity_seconds": Key(int, 30, _range(5, 600)),
        "rate_per_minute": Key(int, 120, _range(1, 6000)),
        # Appointment lookups by document number per kiosk: enough for a queue of people, far too
        # few to test document numbers against the day's appointments.
        "lookups_per_minute": Key(int, 10, _range(1, 600)),
        "privacy_url": Key(str, ""),
    },
    "display": {
        "previous_calls": Key(int, 6, _range(0, 20)),
        "message": Key(str, ""),
    },
    "console": {
        # The console offers "no se presentó" once a called ticket has been recalled this many times.
        "no_show_after_recalls": Key(int, 1, _range(0, 10)),
        "sound": Key(bool, True),
        # The supervisor page warns of a counter paused this long or longer.
        "long_pause_minutes": Key(int, 15, _range(1, 480)),
    },
    # How the box serves: deployment settings, changed only in the file on the box.
    "server": {
        # Web worker processes. 1 (the default) suits a usual sede; more spread the API over the
        # cores, and then Socket.IO is served over WebSocket only (docs/capacity.md).
        "workers": Key(int, 1, _range(1, 8), box_only=True),
        # Long-lived connections (WebSockets, polling requests) held at once, of which a share is
        # kept for staff, kiosks and displays, and how many one address without a credential may hold.
        "max_connections": Key(int, 2000, _range(10, 100000), box_only=True),
        "reserved_connections": Key(int, 100, _range(0, 10000), box_only=True),
        "max_connections_per_address": Key(int, 20, _range(1, 100000), box_only=True),
        # A client slower than this to send its request's headers, or its body, is cut off.
        "header_timeout_seconds": Key((int, float), 10, _range(0.5, 300), box_only=True),
        "body_timeout_seconds": Key((int, float), 10, _range(0.5, 300), box_only=True),
    },
    "reports": {
        # Targets of the monthly indicator table (shares are 0..1; 0 minutes or 0 people = no target).
        "within_target_goal": Key((int, float), 0.8, _range(0, 1)),
        "no_show_goal": Key((int, float), 0.1, _range(0, 1)),
        "median_wait_goal_minutes": Key(int, 15, _range(0, 1440)),
        "preferential_wait_goal_minutes": Key(int, 10, _range(0, 1440)),
        "served_goal_month": Key(int, 0, _range(0, 10_000_000)),
    },
}

SERVICE_KEYS = {
    "code": Key(str, rule=_pattern(r"[A-Z][A-Z0-9_]{0,15}", "capital letters and digits, e.g. 'ORI'")),
    "prefix": Key(str, rule=_pattern(r"[A-Z]{1,3}", "one to three capital letters")),
    "names": Key(dict),
    "descriptions": Key(dict, {}),
    "icon": Key(str, "help"),
    "daily_cap": Key(int, 0, _range(0, 100000)),
    "target_wait_minutes": Key(int, 30, _range(1, 1440)),
    "service_minutes": Key(int, 15, _range(1, 480)),
    "appointments": Key(bool, False),
    "appointment_early_minutes": Key(int, 15, _range(0, 240)),
    "appointment_late_minutes": Key(int, 15, _range(0, 240)),
    "discreet": Key(bool, False),
    "neutral_label": Key(dict, {}),
    "hours": Key(str, "", _hours),
    "result_codes": Key(dict, {}),
}

COUNTER_KEYS = {
    "id": Key(str, rule=_pattern(r"[a-z0-9][a-z0-9-]{0,31}", "a short slug such as 'v1' or 'consultorio-2'")),
    "name": Key(str),
    "spoken_name": Key(str, ""),
    "services": Key(list),
}
