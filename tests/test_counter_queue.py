"""A counter's waiting list is exactly call-next's order: one source of truth (issue #16).

``Engine.counter_queue`` (``GET /api/v1/counters/<id>/queue``, the console's «En espera») lists a
counter's waiting tickets in the order ``call_next`` takes them: tiers, oldest first across the
counter's services, and the preferential streak rule. Property: over random multi-service queues
(classes, urgente, appointments, transfers, class changes, other counters calling), the list's
first row is what call-next calls, every time, until the queue is empty; and with nothing else
happening, the whole list is the sequence of calls.
"""
import random
from datetime import datetime

import pytest

from config import load_settings
from tests.conftest import LIMA, error_code, write_sede
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.store import Store

CLASSES = [None, None, None, "gestante", "adulto_mayor", "discapacidad", "con_infante", "urgente"]


def make_engine(tmp_path, clock, streak: int) -> Engine:
    data_dir = write_sede(tmp_path / f"sede-{streak}", **{
        'languages = ["es", "qu", "en"]': f'languages = ["es", "qu", "en"]\npreferential_streak = {streak}'})
    settings = load_settings(data_dir, {})
    return Engine(Store.in_data_dir(data_dir), settings, SedeClock(settings.timezone, clock))


def ids(tickets) -> list:
    return [ticket["id"] for ticket in tickets]


def serve(engine, ticket, staff):
    engine.start(ticket["id"], staff)
    engine.finish(ticket["id"], staff, "resolved")


def fill(engine, clock, rng, count: int, first_appointment: int):
    """Random arrivals for v1 (ORI, PEN) mixed with other services' tickets, appointments whose
    windows open and close, class changes, and transfers into v1's services from counter v2."""
    day = datetime.fromtimestamp(clock(), LIMA).date().isoformat()
    for index in range(first_appointment, first_appointment + 6):
        engine.upsert_appointment({"id": f"cita-{index}", "service": rng.choice(["ORI", "PEN"]), "status": "booked",
                                   "starts_at": f"{day}T{rng.randint(10, 12):02d}:{rng.randint(0, 59):02d}:00-05:00"})
    pending = [f"cita-{index}" for index in range(first_appointment, first_appointment + 6)]
    for _ in range(count):
        clock.advance(rng.choice([0, 0, 1, 7, 60]))
        roll = rng.random()
        if pending and roll < 0.12:
            engine.issue(None, appointment=pending.pop())
        elif roll < 0.2:
            engine.issue("VIC", channel="staff")  # not v1's: never listed there
        else:
            engine.issue(rng.choice(["ORI", "PEN"]), channel="staff", priority=rng.choice(CLASSES),
                         language=rng.choice(["es", "qu", "en"]))
        if rng.random() < 0.1:
            waiting = engine.queue()
            if waiting:
                engine.set_priority(rng.choice(waiting)["id"], rng.choice(CLASSES), "beto")
        if rng.random() < 0.08:  # counter v2 calls one of ORI and sends it to PEN (keeps its arrival)
            ticket = engine.call_next("v2", "beto")
            if ticket is not None:
                if ticket["service"] == "ORI":
                    engine.transfer(ticket["id"], "PEN", "beto")
                else:
                    serve(engine, ticket, "beto")


@pytest.mark.parametrize("streak", [0, 1, 2])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_counter_list_is_call_next_order(tmp_path, clock, streak, seed):
    rng = random.Random(seed * 10 + streak)
    engine = make_engine(tmp_path, clock, streak)
    engine.open_counter("v1", "ana")
    fill(engine, clock, rng, 40, 0)
    # Take a few calls first so the counter's preferential streak is somewhere mid-run.
    calls = 0
    for _ in range(rng.randint(0, 3)):
        listed = engine.counter_queue("v1")["tickets"]
        ticket = engine.call_next("v1", "ana")
        assert ticket["id"] == listed[0]["id"]
        serve(engine, ticket, "ana")
        calls += 1

    # With nothing else happening, the whole list is the sequence of calls.
    snapshot = engine.counter_queue("v1")
    assert snapshot["services"] == ["ORI", "PEN"]
    assert all(ticket["service"] in ("ORI", "PEN") for ticket in snapshot["tickets"])
    waiting = [t for t in engine.queue() if t["service"] in ("ORI", "PEN")]
    assert sorted(ids(snapshot["tickets"])) == sorted(ids(waiting))
    called = []
    for _ in range(len(snapshot["tickets"]) // 2):
        ticket = engine.call_next("v1", "ana")
        called.append(ticket["id"])
        serve(engine, ticket, "ana")
    assert called == ids(snapshot["tickets"])[:len(called)]

    # With the queue moving between calls (arrivals, the clock, class changes, transfers), the
    # first row is always the next call, until the queue is empty.
    fill(engine, clock, rng, 25, 100)
    while True:
        listed = engine.counter_queue("v1")["tickets"]
        ticket = engine.call_next("v1", "ana")
        if ticket is None:
            assert listed == []
            break
        assert ticket["id"] == listed[0]["id"], (seed, streak, calls)
        calls += 1
        serve(engine, ticket, "ana")
        if rng.random() < 0.3:
            fill(engine, clock, rng, rng.randint(1, 3), 1000 + calls * 10)
    assert calls > 30


def test_the_streak_shows_in_the_list(tmp_path, clock):
    """preferential_streak = 2: after two preferential calls one normal ticket goes through, and
    the list shows it there (not at the end, as the service's own order would)."""
    engine = make_engine(tmp_path, clock, 2)
    engine.issue("ORI")  # A-001 normal, waits longest
    for _ in range(4):
        clock.advance(1)
        engine.issue("PEN", priority="adulto_mayor")  # B-001..B-004
    clock.advance(1)
    engine.issue("ORI")
    engine.open_counter("v1", "ana")
    codes = [t["code"] for t in engine.counter_queue("v1")["tickets"]]
    assert codes == ["B-001", "B-002", "A-001", "B-003", "B-004", "A-002"]
    assert [t["code"] for t in engine.queue("PEN")] == ["B-001", "B-002", "B-003", "B-004"]


def test_a_closed_counter_lists_what_it_would_serve_when_opened(engine):
    engine.issue("VIC")
    engine.issue("CON")
    engine.issue("ORI", priority="urgente", channel="staff")
    listed = engine.counter_queue("c1")  # closed: its configured services, VIC and ORI
    assert listed["services"] == ["VIC", "ORI"]
    assert [t["code"] for t in listed["tickets"]] == ["A-001", "V-001"]


def test_counter_queue_api(api, tokens):
    api.post("/tickets", {"service": "PEN", "language": "en"})
    api.post("/tickets", {"service": "ORI", "priority": "discapacidad"})
    api.post("/tickets", {"service": "CON", "priority": "urgente"})
    answer = api.get("/counters/v1/queue")
    assert answer.status_code == 200
    body = answer.json
    assert body["counter"] == "v1" and body["services"] == ["ORI", "PEN"]
    assert [(t["code"], t["priority"], t["language"], t["position"]) for t in body["tickets"]] == [
        ("A-001", "discapacidad", "es", 1), ("B-001", None, "en", 1)]
    missing = api.get("/counters/nope/queue")
    assert missing.status_code == 404 and error_code(missing) == "unknown_counter"
    assert api.as_(tokens["kiosk"]).get("/counters/v1/queue").status_code == 403
    assert api.as_(None).get("/counters/v1/queue").status_code == 401
