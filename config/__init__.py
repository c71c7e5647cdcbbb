"""Load and validate a sede's settings (``sede.toml`` plus ``TURNERO_<TABLE>_<KEY>`` overrides).

This package only reads and checks settings; the app factory hands the result to each part.
A bad file stops the start with one line naming the file, the key and what is wrong.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.schema import COUNTER_KEYS, SERVICE_KEYS, TABLES, Key

SETTINGS_FILE = "sede.toml"
DEFAULT_DATA_DIR = "turnero-data"
PRIORITY_CLASSES = ("gestante", "adulto_mayor", "discapacidad", "con_infante", "urgente")
LANGUAGES = ("es", "qu", "ay", "shp", "en")


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line: file, key, problem (English, for
    logs and the CLI). ``key`` (``sede.timezone``, ``services[1].code``), ``problem`` (a short code)
    and ``params`` let a page say it in the reader's language; ``line``/``column`` where the TOML
    parser found a syntax error."""

    def __init__(self, message: str, *, key: str | None = None, problem: str | None = None,
                 params: dict | None = None, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.key, self.problem, self.params = key, problem, dict(params or {})
        self.line, self.column = line, column


@dataclass(frozen=True)
class Service:
    code: str
    prefix: str
    names: dict
    descriptions: dict
    icon: str
    daily_cap: int
    target_wait_minutes: int
    service_minutes: int
    appointments: bool
    appointment_early_minutes: int
    appointment_late_minutes: int
    discreet: bool
    neutral_label: dict
    hours: tuple | None  # (open "HH:MM", close "HH:MM") local time, or None for always
    result_codes: dict  # code -> label
    # The day's numbering this service draws from: its own, or, when discreet services share a
    # prefix (so the hall cannot tell them apart), the prefix's shared sequence.
    number_key: str = ""
    pictogram: str = ""  # a file name in [kiosk] pictogram_dir, or "" (the icon)

    def name(self, language: str = "es") -> str:
        return self.names.get(language) or self.names["es"]


@dataclass(frozen=True)
class Counter:
    id: str
    name: str
    spoken_name: str
    services: tuple


@dataclass
class Settings:
    path: Path
    sede: dict
    services: dict  # code -> Service, in file order
    counters: dict  # id -> Counter, in file order
    printer: dict = field(default_factory=dict)
    voice: dict = field(default_factory=dict)
    sync: dict = field(default_factory=dict)
    kiosk: dict = field(default_factory=dict)
    display: dict = field(default_factory=dict)
    console: dict = field(default_factory=dict)
    reports: dict = field(default_factory=dict)
    server: dict = field(default_factory=dict)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.sede["timezone"])


def resolve_data_dir(explicit: str | None = None) -> Path:
    """--data-dir, else TURNERO_DATA_DIR, else ./turnero-data (SPEC.md, CLI)."""
    return Path(explicit or os.environ.get("TURNERO_DATA_DIR") or DEFAULT_DATA_DIR).resolve()


def load_settings(data_dir: str | os.PathLike, env: dict | None = None) -> Settings:
    """Read ``sede.toml`` from ``data_dir``, apply environment overrides and validate."""
    path = Path(data_dir) / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (run 'turnero demo' or copy config/example.sede.toml)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8 text") from None
    return parse_text(text, path, env)


def parse_text(text: str, path: str | os.PathLike, env: dict | None = None) -> Settings:
    """Validate the text of a ``sede.toml`` (as if it were at ``path``) with the environment overrides."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        raise ConfigError(f"{path}: not valid TOML: {exc}", problem="toml",
                          line=int(at.group(1)) if at else None, column=int(at.group(2)) if at else None) from None
    return parse_settings(raw, Path(path), os.environ if env is None else env)


def box_only_changes(before_text: str, after_text: str) -> list[str]:
    """The box-only settings (a command, an executable or a file path) that ``after_text`` sets
    differently from ``before_text``, as ``table.key``. A file that does not parse counts as empty."""
    def tables(text):
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return {}

    before, after = tables(before_text), tables(after_text)
    changed = []
    for table, keys in TABLES.items():
        old, new = before.get(table, {}), after.get(table, {})
        old, new = (old if isinstance(old, dict) else {}), (new if isinstance(new, dict) else {})
        for name, key in keys.items():
            if key.box_only and old.get(name, key.default) != new.get(name, key.default):
                changed.append(f"{table}.{name}")
    return changed


def parse_settings(raw: dict, path: Path, env: dict) -> Settings:
    where = str(path)
    unknown = set(raw) - set(TABLES) - {"services", "counters"}
    if unknown:
        raise ConfigError(f"{where}: [{sorted(unknown)[0]}]: unknown table", key=sorted(unknown)[0],
                          problem="unknown_table")
    tables = {}
    for table, keys in TABLES.items():
        values = raw.get(table, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: {table}: must be a table", key=table, problem="not_table")
        values = dict(values)
        values.update(_env_overrides(table, keys, env, where))
        tables[table] = _check_keys(values, keys, f"{where}: {table}")
    sede = tables["sede"]
    try:
        ZoneInfo(sede["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: sede.timezone: unknown time zone {sede['timezone']!r}", key="sede.timezone",
                          problem="timezone", params={"value": sede["timezone"]}) from None
    for lang in sede["languages"]:
        if lang not in LANGUAGES:
            raise ConfigError(f"{where}: sede.languages: unknown language {lang!r} (known: {', '.join(LANGUAGES)})",
                              key="sede.languages", problem="language",
                              params={"value": lang, "known": ", ".join(LANGUAGES)})
    if "es" not in sede["languages"]:
        raise ConfigError(f"{where}: sede.languages: Spanish ('es') must be enabled", key="sede.languages",
                          problem="spanish_required")
    services = _parse_services(raw.get("services", []), where)
    counters = _parse_counters(raw.get("counters", []), services, where)
    sync = tables["sync"]
    if sync["central_url"] and not sync["central_url"].startswith(("http://", "https://")):
        raise ConfigError(f"{where}: sync.central_url: must be an http(s) URL", key="sync.central_url",
                          problem="url")
    server = tables["server"]
    if server["reserved_connections"] >= server["max_connections"]:
        raise ConfigError(f"{where}: server.reserved_connections: must be less than server.max_connections",
                          key="server.reserved_connections", problem="less_than",
                          params={"other": "server.max_connections"})
    return Settings(path=path, sede=sede, services=services, counters=counters, printer=tables["printer"],
                    voice=tables["voice"], sync=sync, kiosk=tables["kiosk"], display=tables["display"],
                    console=tables["console"], reports=tables["reports"], server=server)


def _env_overrides(table: str, keys: dict, env: dict, where: str) -> dict:
    prefix = f"TURNERO_{table.upper()}_"
    out = {}
    for name, text in env.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix):].lower()
        if key not in keys:
            raise ConfigError(f"environment {name}: unknown key {table}.{key}")
        out[key] = keys[key].from_text(text, f"environment {name}")
    return out


def _check_keys(values: dict, keys: dict[str, Key], where: str) -> dict:
    for name in values:
        if name not in keys:
            raise ConfigError(f"{where}.{name}: unknown key", key=_key_of(f"{where}.{name}"), problem="unknown_key")
    return {name: key.check(values.get(name, key.default), f"{where}.{name}", name in values)
            for name, key in keys.items()}


def _parse_services(items, where: str) -> dict:
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: services: at least one [[services]] table is required", key="services",
                          problem="services_required")
    services, prefixes = {}, {}
    for index, item in enumerate(items):
        at = f"{where}: services[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: must be a table", key=_key_of(at), problem="not_table")
        values = _check_keys(item, SERVICE_KEYS, at)
        code, prefix = values["code"], values["prefix"]
        if code in services:
            raise ConfigError(f"{at}.code: duplicate service code {code!r}", key=_key_of(f"{at}.code"),
                              problem="duplicate_service", params={"value": code})
        if "es" not in values["names"]:
            raise ConfigError(f"{at}.names: a Spanish name (es) is required", key=_key_of(f"{at}.names"),
                              problem="spanish_name")
        prefixes.setdefault(prefix, []).append(code)
        hours = None
        if values["hours"]:
            hours = tuple(values["hours"].split("-"))
        services[code] = Service(
            code=code, prefix=prefix, names=values["names"], descriptions=values["descriptions"],
            icon=values["icon"], daily_cap=values["daily_cap"], target_wait_minutes=values["target_wait_minutes"],
            service_minutes=values["service_minutes"], appointments=values["appointments"],
            appointment_early_minutes=values["appointment_early_minutes"],
            appointment_late_minutes=values["appointment_late_minutes"], discreet=values["discreet"],
            neutral_label=values["neutral_label"] or {"es": "Atención"}, hours=hours,
            result_codes=values["result_codes"], number_key=code, pictogram=values["pictogram"])
    for prefix, codes in prefixes.items():
        if len(codes) == 1:
            continue
        if not any(services[code].discreet for code in codes):
            raise ConfigError(f"{where}: services: duplicate prefix {prefix!r} ({', '.join(codes)}); only a "
                              "discreet service may share its prefix (and then the services share one numbering)",
                              key=f"services[{list(services).index(codes[-1])}].prefix", problem="duplicate_prefix",
                              params={"value": prefix, "codes": ", ".join(codes)})
        for code in codes:
            services[code] = replace(services[code], number_key=f"prefix:{prefix}")
    return services


def _parse_counters(items, services: dict, where: str) -> dict:
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: counters: at least one [[counters]] table is required", key="counters",
                          problem="counters_required")
    counters = {}
    for index, item in enumerate(items):
        at = f"{where}: counters[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: must be a table", key=_key_of(at), problem="not_table")
        values = _check_keys(item, COUNTER_KEYS, at)
        if values["id"] in counters:
            raise ConfigError(f"{at}.id: duplicate counter id {values['id']!r}", key=_key_of(f"{at}.id"),
                              problem="duplicate_counter", params={"value": values["id"]})
        for code in values["services"]:
            if code not in services:
                raise ConfigError(f"{at}.services: unknown service {code!r}", key=_key_of(f"{at}.services"),
                                  problem="unknown_service", params={"value": code})
        counters[values["id"]] = Counter(id=values["id"], name=values["name"],
                                         spoken_name=values["spoken_name"] or values["name"],
                                         services=tuple(values["services"]))
    return counters


def _key_of(where: str) -> str:
    """The setting named by a message's ``where`` ("/x/sede.toml: services[0].code" -> "services[0].code",
    "/x/sede.toml: sync.intervalo" keeps "sync.intervalo"; "environment TURNERO_X" stays as is)."""
    return where.rsplit(": ", 1)[-1].replace(": ", ".")
