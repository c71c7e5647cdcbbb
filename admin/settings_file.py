"""Replace the sede's ``sede.toml`` from the admin page: validated first, written atomically.

The new text must load exactly as the box would load it at start (same environment overrides);
otherwise nothing is written. The previous file is kept beside it as ``sede.toml.prev``.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from config import SETTINGS_FILE, ConfigError, parse_text

MAX_SETTINGS_BYTES = 60 * 1024  # under the request limit; a real sede.toml is a few KiB


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_settings_text(data_dir: Path) -> str:
    return (Path(data_dir) / SETTINGS_FILE).read_text(encoding="utf-8")


def still_in_use(engine, settings) -> tuple[list, list]:
    """Services and counters the new settings drop while the box still uses them: a service with
    open tickets, a counter that is open or holds a ticket. They must be emptied first."""
    services, counters = engine.in_use()
    return sorted(services - set(settings.services)), sorted(counters - set(settings.counters))


def stage_settings_text(data_dir: Path, text: str):
    """Validate ``text`` and write it to a temporary file beside sede.toml (flushed to disk).
    Returns (the staged file, the settings it holds).

    Raises ConfigError with the one-line message of a failed start."""
    path = Path(data_dir) / SETTINGS_FILE
    if len(text.encode("utf-8")) > MAX_SETTINGS_BYTES:
        raise ConfigError(f"{path}: too large (at most {MAX_SETTINGS_BYTES // 1024} KiB)", problem="too_large",
                          params={"kib": MAX_SETTINGS_BYTES // 1024})
    settings = parse_text(text, path)
    staged = path.with_name(SETTINGS_FILE + ".new")
    with open(staged, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return staged, settings


_HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
_KEY = re.compile(r"([A-Za-z0-9_-]+)(?:\[(\d+)\])?(?:\.([A-Za-z0-9_-]+))?$")


def line_of_key(text: str, key: str | None) -> int | None:
    """The line (1-based) of ``text`` that sets ``key`` ("sede.timezone", "services[1].code", "sync",
    "counters[0]"): the key's own line if written, else its table's header; None if neither is there."""
    match = _KEY.match(key or "")
    if not match:
        return None
    table, index, name = match.group(1), match.group(2), match.group(3)
    index = int(index) if index is not None else None
    current, count, header = None, {}, None
    for number, line in enumerate(text.split("\n"), 1):
        found = _HEADER.match(line)
        if found:
            current = found.group(2)
            if name and (current == f"{table}.{name}" or current.startswith(f"{table}.{name}.")):
                return number  # a key written as a table of its own: [reports.matters]
            if found.group(1) == "[[":
                count[current] = count.get(current, -1) + 1
            inside = current == table and (index is None or count.get(current) == index)
            if inside and header is None:
                header = number
            continue
        inside = current == table and (index is None or count.get(current) == index)
        if inside and name and re.match(rf"\s*{re.escape(name)}\s*=", line):
            return number
        if current is None and table and not name and re.match(rf"\s*{re.escape(table)}\s*=", line):
            return number
    return header


def commit_settings_text(data_dir: Path, staged: Path) -> None:
    """Keep the current file as sede.toml.prev and move the staged one into place atomically."""
    path = Path(data_dir) / SETTINGS_FILE
    shutil.copy2(path, path.with_name(SETTINGS_FILE + ".prev"))
    os.replace(staged, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
