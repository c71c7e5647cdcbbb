"""KPIs: a generated 100,000-ticket month checked against an independent count, exact figures of a
small day driven through the engine with a fake clock, and the period checks."""
from __future__ import annotations

import statistics
from datetime import date, datetime

import pytest

from config import load_settings
from turnero.sample_month import generate_month
from tests.conftest import LIMA, FakeClock, write_sede
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.errors import DomainError
from turnero.stats import compute_stats, own_figures
from turnero.store import Store


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    data_dir = write_sede(tmp_path_factory.mktemp("month") / "data")
    settings = load_settings(data_dir, {})
    store = Store.in_data_dir(data_dir)
    truth = generate_month(store, settings, date(2026, 11, 1), 30, 100_000)
    clock = FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=LIMA))
    yield Engine(store, settings, SedeClock(settings.timezone, clock)), truth
    store.close()


def test_a_generated_month_of_100000_tickets(month):
    engine, truth = month
    assert truth["tickets"] == 100_000
    stats = compute_stats(engine, "2026-11-01", "2026-11-30")
    totals = stats["totals"]
    for key in ("issued", "served", "no_shows", "cancelled", "transferred", "expired"):
        assert totals[key] == truth[key], key
    assert totals["within_target_share"] == round(truth["within"] / truth["served"], 4)
    waits = sorted(truth["waits"])
    assert totals["wait_seconds"]["count"] == len(waits)
    assert totals["wait_seconds"]["median"] == round(statistics.median(waits), 1)
    assert totals["wait_seconds"]["max"] == round(waits[-1], 1)
    assert totals["wait_seconds"]["p90"] == round(waits[int(len(waits) * 0.9 + 0.999999) - 1], 1)
    for service in stats["services"]:
        expected = truth["service"][service["code"]]
        assert (service["issued"], service["served"], service["no_shows"], service["cancelled"],
                service["transferred"]) == (expected["issued"], expected["served"], expected["no_shows"],
                                            expected["cancelled"], expected["transferred"]), service["code"]
        assert service["wait_seconds"]["median"] == round(statistics.median(expected["waits"]), 1)
    assert {c["id"]: c["served"] for c in stats["counters"]} == truth["counter_served"]
    assert sum(c["served"] for c in stats["staff"]) == truth["served"]
    assert sum(stats["arrivals_by_hour"]) == truth["issued"]
    assert sum(day["issued"] for day in stats["daily"]) == truth["issued"]
    assert sum(day["served"] for day in stats["daily"]) == truth["served"]
    assert len(stats["daily"]) == stats["days"] == 30
    assert all(count == 0 for hour, count in enumerate(stats["arrivals_by_hour"]) if hour < 8 or hour >= 17)
    # The breakdowns, from the same passes over the rows.
    assert stats["outcomes"]["referred"] == totals["referred"] == truth["referred"]
    assert stats["outcomes"]["no_show"] == truth["no_shows"]
    assert {entry["language"]: entry["issued"] for entry in stats["languages"]} == truth["languages"]
    assert sum(entry["served"] for entry in stats["languages"]) == truth["served"]
    results = {}
    for entry in stats["results"]:
        if entry["result"]:
            results[entry["result"]] = results.get(entry["result"], 0) + entry["count"]
    assert results == truth["results"]
    assert sum(entry["count"] for entry in stats["results"]) == truth["served"] - truth["transfer_attentions"]
    assert stats["ratings"]["total"]["count"] == truth["ratings"]
    paused = sum(entry["paused_seconds"] for entry in stats["counter_time"]["counters"])
    assert paused == pytest.approx(truth["paused_seconds"], abs=1)


def test_a_single_day_of_the_month_and_an_empty_one(month):
    engine, truth = month
    whole = compute_stats(engine, "2026-11-01", "2026-11-30")
    one = compute_stats(engine, "2026-11-10")
    assert one["from"] == one["to"] == "2026-11-10" and one["days"] == 1
    assert one["totals"]["issued"] == whole["daily"][9]["issued"] > 0
    empty = compute_stats(engine, "2026-10-01", "2026-10-31")
    assert empty["totals"]["issued"] == empty["totals"]["served"] == 0
    assert empty["totals"]["wait_seconds"] == {"count": 0, "median": None, "p90": None, "max": None}
    assert empty["totals"]["within_target_share"] is None


@pytest.mark.parametrize("first,last,code,status", [
    ("2026-13-01", None, "invalid_date", 400), ("hoy", None, "invalid_date", 400),
    ("2026-11-10", "2026-11-01", "invalid_period", 422), ("2024-01-01", "2026-01-01", "invalid_period", 422)])
def test_bad_periods(engine, first, last, code, status):
    with pytest.raises(DomainError) as caught:
        compute_stats(engine, first, last)
    assert (caught.value.code, caught.value.status) == (code, status)


def test_exact_figures_of_a_small_day(engine, clock):
    """ORI target 20 min. Waits: 5 min and 30 min (served), one no-show, one cancelled, one transfer."""
    a = engine.issue("ORI", channel="staff")[0]
    b = engine.issue("ORI", priority="gestante", channel="staff")[0]
    c = engine.issue("ORI", channel="staff")[0]
    d = engine.issue("ORI", channel="staff")[0]
    e = engine.issue("PEN", channel="staff")[0]
    clock.advance(300)
    assert engine.call_next("v1", "ana")["id"] == b["id"]  # preferential first, waited 5 min
    engine.start(b["id"], "ana")
    clock.advance(120)
    engine.finish(b["id"], "ana", "resolved")
    clock.advance(1380)  # a waited 5 + 2 + 23 = 30 min
    assert engine.call_next("v2", "beto")["id"] == a["id"]
    engine.start(a["id"], "beto")
    clock.advance(600)
    engine.finish(a["id"], "beto", "referred")
    assert engine.call_next("v2", "beto")["id"] == c["id"]
    engine.no_show(c["id"], "beto")
    engine.cancel(d["id"], "sofia", "se fue")
    assert engine.call_next("v1", "ana")["id"] == e["id"]
    moved = engine.transfer(e["id"], "ORI", "ana")
    stats = compute_stats(engine)
    totals = stats["totals"]
    assert (totals["issued"], totals["served"], totals["no_shows"], totals["cancelled"], totals["transferred"],
            totals["referred"]) == (5, 2, 1, 1, 1, 1)
    assert totals["wait_seconds"] == {"count": 2, "median": 1050.0, "p90": 1800.0, "max": 1800.0}
    assert totals["service_seconds"] == {"count": 2, "median": 360.0, "p90": 600.0, "max": 600.0}
    assert totals["within_target_share"] == 0.5
    assert totals["preferential_share"] == 0.2  # of issued
    assert totals["preferential_wait_seconds"]["median"] == 300.0
    ori = next(s for s in stats["services"] if s["code"] == "ORI")
    assert (ori["issued"], ori["transferred_in"], ori["preferential_issued"]) == (4, 1, 1)
    pen = next(s for s in stats["services"] if s["code"] == "PEN")
    assert pen["transferred"] == 1 and pen["served"] == 0
    by_counter = {c["id"]: c for c in stats["counters"]}
    assert by_counter["v1"]["served"] == 1 and by_counter["v1"]["transferred"] == 1
    assert by_counter["v2"]["served"] == 1 and by_counter["v2"]["no_shows"] == 1
    by_staff = {s["username"]: s for s in stats["staff"]}
    assert by_staff["beto"]["referred"] == 1 and by_staff["ana"]["preferential_share"] == 1.0
    assert stats["arrivals_by_hour"][10] == 5
    assert moved["status"] == "waiting"
    assert own_figures(engine, "beto") | {"date": None} == {
        "username": "beto", "date": None, "served": 1, "no_shows": 1, "referred": 1, "transferred": 0,
        "service_seconds": {"count": 1, "median": 600.0, "p90": 600.0, "max": 600.0},
        "wait_seconds": {"count": 1, "median": 1800.0, "p90": 1800.0, "max": 1800.0}}


def test_the_stats_endpoint_keeps_its_first_shape(api, tokens):
    api.post("/tickets", {"service": "ORI"})
    answer = api.as_(tokens["sofia"]).get("/stats?from=2026-11-25&to=2026-11-25")
    assert answer.status_code == 200
    body = answer.json
    for key in ("from", "to", "totals", "services", "counters", "staff", "arrivals_by_hour", "days"):
        assert key in body
    for key in ("issued", "served", "no_shows", "cancelled", "transferred", "wait_seconds", "service_seconds",
                "within_target_share", "preferential_share", "preferential_wait_seconds"):
        assert key in body["totals"]
    service = body["services"][0]
    for key in ("code", "issued", "served", "no_shows", "cancelled", "transferred", "expired", "wait_seconds",
                "service_seconds", "within_target_share", "target_wait_minutes"):
        assert key in service
    assert api.as_(tokens["sofia"]).get("/stats?from=2026-02-30").status_code == 400


def test_a_cached_day_is_recomputed_when_its_rows_change(engine, clock):
    ticket = engine.issue("ORI", channel="staff")[0]
    engine.cancel(ticket["id"], "sofia", "se fue")
    assert compute_stats(engine, "2026-11-25")["totals"]["cancelled"] == 1
    clock.advance(86400)
    assert compute_stats(engine, "2026-11-25")["totals"]["cancelled"] == 1  # from the cache
    engine.requeue(ticket["id"], "sofia", "volvió al día siguiente")
    again = compute_stats(engine, "2026-11-25", "2026-11-26")
    assert again["totals"]["cancelled"] == 0 and again["totals"]["issued"] == 1
    assert [day["issued"] for day in again["daily"]] == [1, 0]


def test_charts_are_plain_svg_with_escaped_text():
    from counter.charts import bar_chart

    chart = bar_chart("Espera <b>", ["ORI", "P&N"], [("Mediana", [3.5, 0]), ("p90", [12, 40])], unit=" min",
                      target=20, target_label="Objetivo")
    svg = str(chart)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and 'role="img"' in svg
    assert "<title" in svg and "Espera &lt;b&gt;" in svg and "P&amp;N" in svg and "<script" not in svg
    assert svg.count("<rect") == 3 + 2  # three non-zero bars and two legend keys
    assert chart.title == "Espera <b>"
    assert "ORI: 3.5 min" in svg  # the description reads the figures out


def test_the_warmer_prepares_last_month_at_start(app):
    from counter import StatsWarmer
    from turnero.stats import DAY_CACHE

    box = app.extensions["turnero"]
    assert any(isinstance(worker, StatsWarmer) for worker in box.workers)
    warmer = StatsWarmer(box.engine)
    warmer.DELAY_SECONDS = 0
    warmer._run()
    cached = [key for key in DAY_CACHE._items if key[0] == str(box.store.path)]
    assert len(cached) == 32  # today and the 31 days before


def test_a_finished_day_is_kept_on_disk_and_recomputed_when_it_changes(engine, clock, monkeypatch):
    from turnero import stats

    served = engine.issue("ORI", channel="staff")[0]
    gone = engine.issue("PEN", channel="staff")[0]
    engine.call(served["id"], "v1", "ana")
    engine.start(served["id"], "ana")
    clock.advance(300)
    engine.finish(served["id"], "ana", "resolved")
    engine.cancel(gone["id"], "sofia", "se fue")
    today = compute_stats(engine, "2026-11-25")
    assert not engine.store.read("SELECT day FROM stats_days")  # today still changes: not kept
    clock.advance(86400)
    later = compute_stats(engine, "2026-11-25")
    # The counter stayed open: its open time ran on until the day's end (it is not a cached figure).
    assert later.pop("counter_time") != today.pop("counter_time")
    assert later == today
    assert [row["day"] for row in engine.store.read("SELECT day FROM stats_days")] == ["2026-11-25"]

    stats.DAY_CACHE.clear()  # as after a restart: the day comes from disk, not from the tickets

    def must_not_recompute(*args):
        raise AssertionError("a kept day was recomputed")

    monkeypatch.setattr(stats, "_day_partial", must_not_recompute)
    kept = compute_stats(engine, "2026-11-25")
    kept.pop("counter_time")
    assert kept == today
    monkeypatch.undo()

    engine.requeue(gone["id"], "sofia", "volvió")  # changes the 25th: its kept figures are stale
    stats.DAY_CACHE.clear()
    after = compute_stats(engine, "2026-11-25")
    assert after["totals"]["cancelled"] == 0 and after["totals"]["served"] == 1


def test_a_report_does_not_wait_for_or_fail_on_keeping_its_days(engine, clock, data_dir):
    """Keeping the days is best effort: with another process holding the write lock, the report still
    answers (after the short wait), and the days are kept by a later report."""
    import sqlite3

    from turnero import stats

    engine.issue("ORI", channel="staff")
    clock.advance(86400)
    holder = sqlite3.connect(data_dir / "turnero.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        report = compute_stats(engine, "2026-11-25")
        assert report["totals"]["issued"] == 1
        assert not engine.store.read("SELECT day FROM stats_days")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not stats.DAY_CACHE.kept((str(engine.store.path), date(2026, 11, 25)))
    assert compute_stats(engine, "2026-11-25") == report
    assert [row["day"] for row in engine.store.read("SELECT day FROM stats_days")] == ["2026-11-25"]
