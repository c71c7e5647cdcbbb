"""The wait forecaster: its answers move the right way with what it is told, on the engine and
on plain scenes (no timing thresholds here: bench/bench_forecast.py measures time and accuracy)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from tests.conftest import LIMA
from turnero import forecast, wait_history
from turnero.forecast import TIER_NORMAL, TIER_PREFERENTIAL, TIER_URGENT, Counter, Scene, Waiting

NOW = 10 * 3600.0  # 10:00 of a day that starts at 0
POOL = wait_history.pool([], 12 * 60)  # no history: the prior of a 12-minute service


def scene(waiting=5, counters=None, rates=None, appointments=(), **extra) -> Scene:
    queue = [Waiting(f"t{i}", "ORI", TIER_NORMAL, (NOW - 600 + i, i)) for i in range(waiting)]
    return Scene(now=NOW, day_start=0.0, counters=counters or [Counter("v1", ("ORI",), "ORI", 60.0)],
                 waiting=queue + list(extra.pop("more", [])), pools={"ORI": [POOL] * 24, "PEN": [POOL] * 24},
                 rates=rates or {}, appointments=list(appointments), **extra)


def minutes(result, ticket="t4"):
    return [(value - NOW) / 60 for value in result.tickets[ticket]]


def test_quantiles_are_ordered_and_later_places_wait_longer():
    result = forecast.simulate(scene())
    previous = 0.0
    for i in range(5):
        low, median, high = minutes(result, f"t{i}")
        assert 0 <= low <= median <= high
        assert median > previous
        previous = median
    # the same scene gives the same forecast (seeded)
    assert forecast.simulate(scene()).tickets == result.tickets


def test_time_already_spent_on_the_attention_in_progress_shortens_the_wait():
    fresh = forecast.simulate(scene(counters=[Counter("v1", ("ORI",), "ORI", 30.0)]))
    late = forecast.simulate(scene(counters=[Counter("v1", ("ORI",), "ORI", 14 * 60.0)]))
    idle = forecast.simulate(scene(counters=[Counter("v1", ("ORI",))]))
    assert minutes(idle, "t0")[1] == 0
    assert minutes(late, "t0")[1] < minutes(fresh, "t0")[1]
    assert minutes(idle)[1] < minutes(late)[1] < minutes(fresh)[1]


def test_more_counters_serving_the_service_shorten_the_wait():
    one = forecast.simulate(scene(waiting=10))
    two = forecast.simulate(scene(waiting=10, counters=[Counter("v1", ("ORI",), "ORI", 60.0),
                                                        Counter("v2", ("ORI", "PEN"), "PEN", 60.0)]))
    assert minutes(two, "t9")[1] < 0.7 * minutes(one, "t9")[1]


def test_a_counter_shared_with_another_service_gives_it_only_its_turn():
    pen_first = [Waiting(f"p{i}", "PEN", TIER_NORMAL, (NOW - 1200 + i, i)) for i in range(4)]
    shared = [Counter("v1", ("ORI",), "ORI", 60.0), Counter("v2", ("ORI", "PEN"), "PEN", 60.0)]
    alone = forecast.simulate(scene(waiting=6, counters=shared))
    crowded = forecast.simulate(scene(waiting=6, counters=shared, more=pen_first))
    assert minutes(crowded, "t5")[1] > minutes(alone, "t5")[1]
    assert crowded.served == {"ORI", "PEN"}


def test_overtaking_arrivals_delay_normal_tickets_only():
    busy_hours = [6.0] * 24  # preferential people per hour
    calm = forecast.simulate(scene(waiting=6))
    overtaken = forecast.simulate(scene(waiting=6, rates={("ORI", TIER_PREFERENTIAL): busy_hours}))
    assert minutes(overtaken, "t5")[1] > minutes(calm, "t5")[1]
    # a preferential person issued now is not passed by later preferential arrivals
    assert overtaken.phantoms[("ORI", TIER_PREFERENTIAL)][1] < overtaken.phantoms[("ORI", TIER_NORMAL)][1]
    urgent = forecast.simulate(scene(waiting=6, rates={("ORI", TIER_URGENT): busy_hours}))
    assert urgent.phantoms[("ORI", TIER_PREFERENTIAL)][1] > calm.phantoms[("ORI", TIER_PREFERENTIAL)][1]


def test_booked_appointments_overtake_when_their_window_opens():
    soon = [("ORI", NOW + 300, NOW + 900, 1.0), ("ORI", NOW + 600, NOW + 1200, 1.0)]
    calm = forecast.simulate(scene(waiting=4))
    booked = forecast.simulate(scene(waiting=4, appointments=soon))
    assert minutes(booked, "t3")[1] > minutes(calm, "t3")[1]
    nobody_comes = forecast.simulate(scene(waiting=4, appointments=[(c, a, k, 0.0) for c, a, k, _ in soon]))
    assert abs(minutes(nobody_comes, "t3")[1] - minutes(calm, "t3")[1]) < 2  # (other random draws)


def test_the_streak_rule_lets_a_normal_ticket_through():
    preferential = [Waiting(f"p{i}", "ORI", TIER_PREFERENTIAL, (NOW - 300 + i, i), preferential=True)
                    for i in range(6)]
    strict = forecast.simulate(scene(waiting=1, more=preferential))
    streak = forecast.simulate(scene(waiting=1, more=preferential, streak_limit=2))
    assert minutes(streak, "t0")[1] < minutes(strict, "t0")[1]


def test_pools_are_robust_to_outliers_and_blend_the_prior_while_history_is_thin():
    typical = [600.0 + 10 * i for i in range(60)]
    with_outliers = typical + [6 * 3600.0, 3.0]  # a forgotten "finish" and a mis-tap
    assert max(wait_history.pool(with_outliers, 900)) < 2 * max(wait_history.pool(typical, 900))
    thin = wait_history.pool([300.0, 320.0], 1200)  # two short attentions: mostly the prior still
    assert 700 < sorted(thin)[len(thin) // 2] < 1300
    rich = wait_history.pool([300.0 + i for i in range(300)], 1200)
    assert 420 < sorted(rich)[len(rich) // 2] < 500  # the samples' own median, 450
    assert all(a <= b for a, b in zip(rich, rich[1:]))


def test_two_short_attentions_do_not_promise_a_one_minute_wait(engine, clock):
    """The issue's example: after two very short attentions, four people ahead."""
    engine.open_counter("v1", "ana")
    for _ in range(2):
        ticket, _ = engine.issue("PEN")
        engine.call_next("v1", "ana")
        engine.start(ticket["id"], "ana")
        clock.advance(40)
        engine.finish(ticket["id"], "ana", "resolved")
    for _ in range(5):
        last, _ = engine.issue("PEN")
    engine.call_next("v1", "ana")
    fifth = engine.get_ticket(last["id"])
    assert fifth["position"] == 4
    assert fifth["eta_range_minutes"]["low"] >= 10 and fifth["eta_minutes"] >= 30


def test_engine_estimates_follow_the_queue(engine, clock):
    engine.open_counter("v1", "ana")
    first, _ = engine.issue("PEN")
    engine.call_next("v1", "ana")
    engine.start(first["id"], "ana")
    waiting = [engine.issue("PEN")[0] for _ in range(3)]
    before = engine.get_ticket(waiting[-1]["id"])
    clock.advance(12 * 60)  # the attention in progress gets on
    later = engine.get_ticket(waiting[-1]["id"])
    assert later["eta_minutes"] < before["eta_minutes"]
    assert later["eta_range_minutes"]["low"] <= later["eta_minutes"] <= later["eta_range_minutes"]["high"]
    # a preferential ticket issued now passes the normal ones
    elder, _ = engine.issue("PEN", priority="adulto_mayor")
    assert elder["position"] == 1 and elder["eta_minutes"] < later["eta_minutes"]
    # the kiosk's services list says what a normal ticket issued now would be told
    services = {s["code"]: s for s in engine.services_overview()}
    issued, _ = engine.issue("PEN")
    assert services["PEN"]["eta_minutes"] == issued["eta_minutes"]
    assert services["PEN"]["eta_range_minutes"] == issued["eta_range_minutes"]
    assert services["VIC"]["eta_minutes"] is None and services["VIC"]["eta_range_minutes"] is None


def test_history_of_preferential_arrivals_lengthens_a_normal_wait(engine, clock):
    engine.open_counter("v1", "ana")
    start = datetime(2026, 11, 25, 10, 0, tzinfo=LIMA)
    baseline = None
    for week_day in range(1, 8):  # a week of busy preferential mornings before today
        clock.set(start - timedelta(days=week_day))
        for _ in range(8):
            engine.issue("PEN", priority="gestante", channel="staff")
            clock.advance(450)
        engine.close_day(through_day=(start - timedelta(days=week_day)).date().isoformat())
    clock.set(start)
    for _ in range(4):
        ticket, _ = engine.issue("PEN")
    with_history = engine.get_ticket(ticket["id"])
    rates = engine.estimates._history_for(engine.store.connect(), clock.value).rates
    assert math.isclose(rates[("PEN", TIER_PREFERENTIAL)][10], 8 * 3600 / 450 / 8, rel_tol=0.5)
    engine.estimates._history[3].rates[("PEN", TIER_PREFERENTIAL)] = [0.0] * 24
    engine.estimates._results.clear()
    baseline = engine.get_ticket(ticket["id"])
    assert with_history["eta_minutes"] > baseline["eta_minutes"]


def test_a_ticket_issued_after_the_pump_made_the_forecast_runs_no_new_simulation(engine, monkeypatch):
    """Transitions must stay quick: the issue reads the kept forecast's "issued now" answer."""
    engine.open_counter("v1", "ana")
    for _ in range(4):
        engine.issue("PEN")
    engine.issue("PEN", priority="gestante")
    engine.warm_estimates()  # what the event pump does after a commit
    runs = []
    real = forecast.simulate
    monkeypatch.setattr(forecast, "simulate", lambda *args, **kwargs: runs.append(1) or real(*args, **kwargs))
    listed = {s["code"]: s for s in engine.services_overview()}["PEN"]
    normal, _ = engine.issue("PEN")
    assert runs == [] and normal["eta_range_minutes"] == listed["eta_range_minutes"]
    engine.warm_estimates()
    runs.clear()
    elder, _ = engine.issue("PEN", priority="adulto_mayor")
    assert runs == [] and elder["position"] == 2 and elder["eta_minutes"] < normal["eta_minutes"]
    engine.get_ticket(normal["id"])  # the queue changed: this one is forecast afresh
    assert runs == [1]


def test_a_paused_counter_comes_back_and_a_service_only_it_serves_is_por_confirmar(engine, clock):
    """A pause is not a closure: the queue it serves still moves, later; a service no open counter
    serves has no estimate (SPEC: null when no counter serving the service is open)."""
    engine.open_counter("v1", "ana")
    engine.open_counter("v2", "beto")
    tickets = [engine.issue("ORI")[0] for _ in range(8)]
    con, _ = engine.issue("CON")  # only v2 serves it
    both_open = engine.get_ticket(tickets[-1]["id"])
    assert engine.get_ticket(con["id"])["eta_minutes"] is not None
    engine.pause_counter("v2", "beto", "almuerzo")
    clock.advance(1)
    paused = engine.get_ticket(tickets[-1]["id"])
    assert engine.get_ticket(con["id"])["eta_minutes"] is None
    assert engine.get_ticket(con["id"])["eta_range_minutes"] is None
    engine.resume_counter("v2", "beto")
    engine.close_counter("v2", "beto")
    clock.advance(1)
    closed = engine.get_ticket(tickets[-1]["id"])
    assert both_open["eta_minutes"] < paused["eta_minutes"] < closed["eta_minutes"]


def test_the_usual_pause_length_is_learned(engine, clock):
    """Pauses of 40 minutes on record: a counter just paused is expected back later than the
    10-minute prior says, so the queue behind it waits longer."""
    fresh = wait_history.pause_pool(engine.store.connect(), clock.value)
    assert 8 * 60 < fresh[len(fresh) // 2] < 12 * 60
    engine.open_counter("v2", "beto")
    for _ in range(12):
        engine.pause_counter("v2", "beto", "diligencia")
        clock.advance(40 * 60)
        engine.resume_counter("v2", "beto")
        clock.advance(60)
    learned = wait_history.pause_pool(engine.store.connect(), clock.value)
    assert learned[len(learned) // 2] > 25 * 60
    counters = [Counter("v1", ("ORI",), "ORI", 60.0), Counter("v2", ("ORI",), paused_for=60.0)]
    short = forecast.simulate(scene(counters=counters, pauses=fresh))
    long = forecast.simulate(scene(counters=counters, pauses=learned))
    alone = forecast.simulate(scene(counters=counters[:1]))
    assert minutes(short)[1] < minutes(long)[1] <= minutes(alone)[1]
    only_paused = forecast.simulate(scene(counters=counters[1:], pauses=fresh))
    assert only_paused.served == frozenset() and only_paused.tickets == {}


def test_arrival_rates_follow_the_weekday_once_there_are_enough_of_them(engine, clock):
    """Three busy Mondays and quiet other days: on a Monday the preferential rate is Monday's."""
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=LIMA)
    for days_back in range(1, 22):
        day = monday - timedelta(days=days_back)
        if day.weekday() == 6:
            continue
        clock.set(day)
        count = 12 if day.weekday() == 0 else 2
        for _ in range(count):
            engine.issue("PEN", priority="gestante", channel="staff")
            clock.advance(60)
        engine.close_day(through_day=day.date().isoformat())
    clock.set(monday)
    rates = wait_history.load(engine.store.connect(), engine.settings, engine.clock, clock.value).rates
    assert rates[("PEN", TIER_PREFERENTIAL)][10] == 12.0
    clock.set(monday + timedelta(days=1))  # a Tuesday: its own three quiet days
    rates = wait_history.load(engine.store.connect(), engine.settings, engine.clock, clock.value).rates
    assert rates[("PEN", TIER_PREFERENTIAL)][10] == 2.0
