"""Replace the sede's ``sede.toml`` from the admin page: validated first, written atomically.

The new text must load exactly as the box would load it at start (same environment overrides);
otherwise nothing is written. The previous file is kept beside it as ``sede.toml.prev``.
"""
from __future__ import annotations

import hashlib
import os
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
        raise ConfigError(f"{path}: too large (at most {MAX_SETTINGS_BYTES // 1024} KiB)")
    settings = parse_text(text, path)
    staged = path.with_name(SETTINGS_FILE + ".new")
    with open(staged, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return staged, settings


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
