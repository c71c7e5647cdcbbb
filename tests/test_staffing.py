"""The reports' staffing suggestion per weekday and hour (Erlang C over the arrival history)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

from config import load_settings
from tests.conftest import LIMA, FakeClock, write_sede
from tests.test_reports_pages import as_user
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.sample_month import generate_month
from turnero.staffing import Arrivals, counters_needed, erlang_c, plan, suggestion
from turnero.stats import DAY_CACHE, compute_stats
from turnero.store import Store


def test_erlang_c_and_the_counters_needed():
    assert abs(erlang_c(1, 0.5) - 0.5) < 1e-9  # one counter: the chance to wait is its load
    assert abs(erlang_c(3, 2.0) - 4 / 9) < 1e-9
    # 10 arrivals an hour, 12 minutes each: 2 Erlangs; 3 counters keep 80 % under 20 minutes
    assert counters_needed(10, 720, 1200, 0.8) == 3
    assert counters_needed(0, 720, 1200, 0.8) == 0
    assert counters_needed(20, 720, 1200, 0.8) > counters_needed(10, 720, 1200, 0.8)
    assert counters_needed(10, 720, 1200, 0.99) >= counters_needed(10, 720, 1200, 0.8)
    assert counters_needed(10, 720, 300, 0.8) >= counters_needed(10, 720, 1200, 0.8)


def test_suggestion_per_weekday_and_hour_from_the_history(engine, clock):
    wednesday = datetime(2026, 11, 25, 9, 0, tzinfo=LIMA)
    for week in (1, 2):  # two Wednesdays: 12 then 8 arrivals between 09:00 and 10:00
        clock.set(wednesday - timedelta(days=7 * week))
        for _ in range(12 if week == 1 else 8):
            engine.issue("ORI", channel="staff")
            clock.advance(240)
    clock.set(wednesday - timedelta(days=12, hours=-2))  # one Friday, 11:00: 2 arrivals
    engine.issue("PEN", channel="staff")
    engine.issue("PEN", channel="staff")
    clock.set(wednesday)
    plan = suggestion(engine, date(2026, 11, 1), date(2026, 11, 24))
    assert plan["goal"] == 0.8 and plan["hours"] == [9, 11]
    days = {entry["weekday"]: entry for entry in plan["weekdays"]}
    assert set(days) == {2, 4}  # Wednesday and Friday
    assert days[2]["days"] == 2 and days[2]["slots"][9]["arrivals"] == 10.0
    assert days[2]["slots"][9]["counters"] == counters_needed(10, 10 * 60, 20 * 60, 0.8)  # ORI: 10 min, 20 min
    assert days[4]["slots"][11] == {"arrivals": 2.0, "counters": 1}


def test_reports_page_shows_the_suggestion(app, tokens, clock):
    engine = app.extensions["turnero"].engine
    for _ in range(6):
        engine.issue("ORI", channel="staff")
    page = as_user(app, tokens["sofia"]).get("/reports").get_data(as_text=True)
    assert "Ventanillas sugeridas por día y hora" in page
    row = re.search(r'<tr data-weekday="2"><th scope="row">Miércoles</th>(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'<td class="num" data-arrivals="6.0" title="\d+ ventanillas para 6.0 llegadas por hora">\d+</td>',
                     row)


def test_the_csv_export_carries_the_suggestion(app, tokens, clock):
    engine = app.extensions["turnero"].engine
    for _ in range(6):
        engine.issue("ORI", channel="staff")
    day = engine.clock.local().date().isoformat()
    answer = as_user(app, tokens["sofia"]).get(f"/reports/export.csv?from={day}&to={day}")
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    start = rows.index(["dia_semana", "hora", "llegadas_por_hora", "ventanillas_sugeridas", "dias_observados"])
    suggested = [row for row in rows[start + 1:] if row]
    assert len(suggested) == 1
    weekday, hour, arrivals, counters, days = suggested[0]
    assert (weekday, hour, arrivals, days) == ("miercoles", "10", "6.0", "1") and int(counters) >= 1


def _from_raw_rows(engine, start: date, end: date) -> dict:
    """The suggestion as it was made before it came from the day partials: straight from the
    period's tickets (an independent count of the same arrivals)."""
    clock = engine.clock
    first, _ = clock.day_bounds(start)
    _, last = clock.day_bounds(end)
    offset = clock.local(first).utcoffset().total_seconds()
    weekday = "(CAST(strftime('%w', issued_at + ?, 'unixepoch') AS INTEGER) + 6) % 7"
    arrivals = Arrivals()
    for day, count in engine.store.read(
            f"SELECT {weekday} AS weekday, COUNT(DISTINCT service_day) FROM tickets WHERE issued_at >= ? AND"
            " issued_at < ? AND transferred_from IS NULL GROUP BY weekday", (offset, first, last)):
        arrivals.days[day] = count
    for day, hour, code, count in engine.store.read(
            f"SELECT {weekday} AS weekday, CAST(((issued_at + ?) % 86400) / 3600 AS INTEGER) AS hour, service,"
            " COUNT(*) FROM tickets WHERE issued_at >= ? AND issued_at < ? AND transferred_from IS NULL"
            " GROUP BY weekday, hour, service", (offset, offset, first, last)):
        arrivals.counts[(day, hour, code)] = count
    return plan(engine, arrivals)


def test_the_suggestion_from_the_kept_days_equals_the_one_from_raw_rows(tmp_path):
    data_dir = write_sede(tmp_path / "data")
    settings = load_settings(data_dir, {})
    store = Store.in_data_dir(data_dir)
    generate_month(store, settings, date(2026, 11, 1), 30, 6000)
    engine = Engine(store, settings, SedeClock(settings.timezone, FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=LIMA))))
    try:
        for first, last in ((date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 11, 3), date(2026, 11, 17))):
            expected = _from_raw_rows(engine, first, last)
            assert expected["weekdays"] and expected["hours"]
            DAY_CACHE.clear()
            assert suggestion(engine, first, last) == expected  # days computed (and kept on disk)
            DAY_CACHE.clear()
            assert suggestion(engine, first, last) == expected  # days read back from disk
            # the page's way: along with the KPIs, from the days in memory
            assert compute_stats(engine, first.isoformat(), last.isoformat(), staffing=True)["staffing"] == expected
    finally:
        DAY_CACHE.clear()
        store.close()
