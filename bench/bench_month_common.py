"""Shared part of the reports benchmarks (not a benchmark itself): a sede data directory whose
SQLite file holds a generated month (turnero.sample_month), November 2026."""
from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from config import load_settings  # noqa: E402
from tests.conftest import write_sede  # noqa: E402
from turnero.sample_month import generate_month  # noqa: E402
from turnero.store import Store  # noqa: E402

FIRST, LAST = "2026-11-01", "2026-11-30"


def month_on_disk(tmp: str, tickets: int):
    """(data_dir, settings, open store, generate_month's truth, seconds it took) for ``tickets``
    tickets over November 2026 in a new data directory under ``tmp``."""
    data_dir = write_sede(Path(tmp) / "data")
    settings = load_settings(data_dir, {})
    store = Store.in_data_dir(data_dir)
    started = time.perf_counter()
    first = date.fromisoformat(FIRST)
    truth = generate_month(store, settings, first, (date.fromisoformat(LAST) - first).days + 1, tickets)
    return data_dir, settings, store, truth, time.perf_counter() - started
