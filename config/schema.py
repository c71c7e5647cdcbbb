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


INDICATORS = ("issued", "served", "within_target", "median_wait", "no_show", "preferential", "preferential_wait",
              "service_time", "survey_mean")
INDICATOR_KEYS = {"code": str, "baseline": (int, float), "expected": (int, float)}


def _text_map(value, what):
    for key, text in value.items():
        if not isinstance(text, str) or not text.strip() or len(text) > 80:
            return Problem(f"{what}.{key} must be a non-empty text of at most 80 characters; got {text!r}",
                           "text_map", entry=key, value=text)
    return None


def _indicators(value):
    for name, entry in value.items():
        if name not in INDICATORS:
            return Problem(f"unknown indicator {name!r} (known: {', '.join(INDICATORS)})", "indicator",
                           value=name, known=", ".join(INDICATORS))
        if not isinstance(entry, dict):
            return Problem(f"indicators.{name} must be a table with code, baseline, expected", "indicator_table",
                           value=name)
        for key, given in entry.items():
            kinds = INDICATOR_KEYS.get(key)
            if kinds is None or isinstance(given, bool) or not isinstance(given, kinds):
                return Problem(f"indicators.{name}.{key}: expected code (text), baseline or expected (numbers); "
                               f"got {key} = {given!r}", "indicator_key", value=f"{name}.{key}")
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
        # Say each step aloud once when it is shown (after the first touch: browsers hold sound until then).
        "speak_steps": Key(bool, False),
        # The folder of the services' pictograms ([[services]] pictogram names a file in it).
        "pictogram_dir": Key(str, "", box_only=True),
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
        # "Primero en mis idiomas" never passes over a ticket that has waited this long (0: the
        # toggle changes nothing). The rule: turnero/ordering.py.
        "language_first_max_hold_minutes": Key(int, 10, _range(0, 120)),
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
        # The matter (materia) of each result code, for the reports' count by matter:
        # { "PEN-01" = "Patrocinio", ... }. A result code not listed counts as "sin materia".
        "matters": Key(dict, {}, lambda value: _text_map(value, "matters")),
        # The monthly indicator table (ministry method): per indicator, its code, baseline and
        # expected value: [reports.indicators.median_wait] code = "IND-04", baseline = 25, expected = 15.
        # Without a baseline, the previous month's figure is used; without an expected value, the
        # goal keys above (when set).
        "indicators": Key(dict, {}, _indicators),
    },
}

SERVICE_KEYS = {
    "code": Key(str, rule=_pattern(r"[A-Z][A-Z0-9_]{0,15}", "capital letters and digits, e.g. 'ORI'")),
    "prefix": Key(str, rule=_pattern(r"[A-Z]{1,3}", "one to three capital letters")),
    "names": Key(dict),
    "descriptions": Key(dict, {}),
    "icon": Key(str, "help"),
    # A picture for the kiosk's button, a file name in [kiosk] pictogram_dir (empty: the icon).
    "pictogram": Key(str, "", _pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}\.(png|svg|webp)",
                                       "a file name ending in .png, .svg or .webp, without folders")),
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
