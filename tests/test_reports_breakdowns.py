"""The reports' breakdowns on a small hand-computed day, the ministry's progress formula, and the
per-ticket CSV (no personal data, formula-safe)."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from config import load_settings
from counter.reports import COLUMNS, csv_text, progress, tickets_csv
from tests.conftest import SEDE_TOML, write_sede
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.stats import compute_stats
from turnero.store import Store

EXTRA = '\n[reports]\nmatters = { "PEN-01" = "Patrocinio penal" }\n'


@pytest.fixture
def day(tmp_path, clock):
    text = SEDE_TOML.replace('"PEN-01" = "Patrocinio asumido"', '"PEN-01" = "=HYPERLINK(1)"') + EXTRA
    settings = load_settings(write_sede(tmp_path / "data", text), {})
    store = Store.in_data_dir(tmp_path / "data")
    engine = Engine(store, settings, SedeClock(settings.timezone, clock))
    engine.open_counter("v1", "ana")                                          # 10:00
    first = engine.issue("PEN", language="qu", channel="staff", name="Juana Quispe",
                         document={"type": "DNI", "number": "12345678"})[0]
    second = engine.issue("ORI", channel="staff")[0]
    clock.advance(300)
    engine.call(first["id"], "v1", "ana")                                     # waited 5 min
    engine.start(first["id"], "ana")
    clock.advance(600)
    engine.finish(first["id"], "ana", "referred", result="PEN-01", case_ref="EXP-1", notes="secreto")
    engine.rate(first["public_id"], 4, "muy amable la Sra. X")
    engine.call(second["id"], "v1", "ana")
    engine.start(second["id"], "ana")
    clock.advance(120)
    engine.transfer(second["id"], "PEN", "ana")                               # internal transfer
    engine.pause_counter("v1", "ana", "almuerzo")                             # 10:17
    clock.advance(1200)
    engine.resume_counter("v1", "ana")                                        # 10:37
    clock.advance(600)
    engine.close_counter("v1", "ana")                                         # 10:47
    yield engine
    store.close()


def test_breakdowns_of_a_small_day(day):
    stats = compute_stats(day, "2026-11-25")
    assert stats["outcomes"] == {"resolved": 0, "pending": 0, "referred": 1, "no_show": 0}
    assert stats["totals"]["referred"] == 1 and stats["totals"]["transferred"] == 1  # apart
    assert stats["results"] == [{"service": "PEN", "result": "PEN-01", "count": 1, "label": "=HYPERLINK(1)"}]
    assert stats["matters"] == [{"matter": "Patrocinio penal", "count": 1}]
    assert stats["ratings"]["total"] == {"count": 1, "mean": 4.0, "distribution": [0, 0, 0, 1, 0]}
    languages = {entry["language"]: entry for entry in stats["languages"]}
    assert languages["qu"]["issued"] == 1 and languages["qu"]["served"] == 1
    assert languages["qu"]["wait_seconds"]["median"] == 300
    assert stats["arrivals_by_weekday_hour"][date(2026, 11, 25).weekday()][10] == 2
    time = stats["counter_time"]["counters"][0]
    assert time["id"] == "v1" and time["paused_seconds"] == 1200
    # open 10:00-10:17 and 10:37-10:47 = 27 min; with a ticket in hand 10:05-10:15 and 10:15-10:17
    assert time["open_seconds"] == 27 * 60 and time["idle_seconds"] == 15 * 60
    assert stats["counter_time"]["staff"][0]["id"] == "ana"


def test_the_per_ticket_csv_has_no_personal_data_and_no_formulas(day):
    text = tickets_csv(day, date(2026, 11, 25), date(2026, 11, 25))
    assert text.startswith("\ufeff")
    for secret in ("Juana", "12345678", "EXP-1", "secreto", "amable"):
        assert secret not in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "Turno" and len(rows) == 4  # two issued and the transfer's new ticket
    first = next(row for row in rows if "PEN-01" in row)
    assert "'=HYPERLINK(1)" in first and "PEN-01" in first and "25/11/2026 10:00:00" in first
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


def test_the_summary_csv_has_the_breakdowns_formula_safe(day):
    text = csv_text(compute_stats(day, "2026-11-25"), [key for key, _ in COLUMNS])
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))

    def section(heading):
        start = rows.index(heading) + 1
        return rows[start:rows.index([], start) if [] in rows[start:] else None]

    assert ["derivado", "1"] in section(["resultado", "atenciones"])
    assert ["transferido", "1"] in section(["resultado", "atenciones"])
    assert section(["materia", "atenciones"]) == [["Patrocinio penal", "1"]]
    assert section(["servicio", "codigo_resultado", "descripcion", "atenciones"]) == [
        ["PEN", "PEN-01", "'=HYPERLINK(1)", "1"]]
    assert section(["ventanilla", "nombre", "abierta_min", "en_pausa_min", "libre_min"]) == [
        ["v1", "Ventanilla 1", "27.0", "20.0", "15.0"]]
    assert ["total", "1", "4.0", "0", "0", "0", "1", "0"] in section(
        ["encuesta_servicio", "respuestas", "promedio", *(f"puntaje_{n}" for n in range(1, 6))])
    assert ["qu", "1", "1", "5.0", "5.0"] in section(
        ["idioma", "emitidos", "atendidos", "espera_mediana_min", "espera_p90_min"])
    assert "secreto" not in text and "amable" not in text


@pytest.mark.parametrize("baseline,expected,achieved,value,why", [
    (100, 200, 150, 50.0, None),          # halfway
    (25, 15, 20, 50.0, None),             # lower is better: a wait down from 25 to 20 min toward 15
    (25, 15, 30, -50.0, None),            # ... and up to 30 min: the wrong way, negative
    (10, 10, 12, None, "counter.summary.why_same_as_baseline"),
    (None, 10, 12, None, "counter.summary.why_no_data"),
    (5, None, 12, None, "counter.summary.why_no_target"),
])
def test_ministry_progress_formula(baseline, expected, achieved, value, why):
    got, reason = progress(baseline, expected, achieved)
    assert reason == why and (got == value if value is None else round(got, 1) == value)
