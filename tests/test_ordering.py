"""The ordering policy: appointments in window, urgente, Ley 28683 classes, arrival; streak rule."""
from datetime import datetime

from tests.conftest import LIMA, write_sede
from config import load_settings
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.store import Store


def codes_called(engine, counter, n, staff="ana"):
    out = []
    for _ in range(n):
        ticket = engine.call_next(counter, staff)
        if ticket is None:
            break
        out.append(ticket["code"])
        engine.start(ticket["id"], staff)
        engine.finish(ticket["id"], staff, "resolved")
    return out


def test_preferential_before_normal_urgente_first(engine, clock):
    engine.issue("ORI")  # A-001 normal
    clock.advance(1)
    engine.issue("ORI", priority="gestante")
    clock.advance(1)
    engine.issue("ORI", priority="urgente", channel="staff")
    clock.advance(1)
    engine.issue("ORI", priority="adulto_mayor")
    assert [t["code"] for t in engine.queue("ORI")] == ["A-003", "A-002", "A-004", "A-001"]
    assert codes_called(engine, "v1", 4) == ["A-003", "A-002", "A-004", "A-001"]


def test_multi_service_counter_takes_longest_waiting_of_highest_class(engine, clock):
    engine.issue("PEN")  # B-001 normal, oldest
    clock.advance(1)
    engine.issue("ORI")  # A-001 normal
    clock.advance(1)
    engine.issue("ORI", priority="discapacidad")
    clock.advance(1)
    engine.issue("PEN", priority="con_infante")  # B-002
    assert codes_called(engine, "v1", 4) == ["A-002", "B-002", "B-001", "A-001"]


def test_counter_only_calls_its_services(engine):
    engine.issue("VIC")
    assert engine.call_next("v1", "ana") is None
    assert engine.call_next("c1", "beto")["code"] == "V-001"


def test_anti_starvation_streak(tmp_path, clock):
    data_dir = write_sede(tmp_path / "d", **{'languages = ["es", "qu", "en"]':
                                             'languages = ["es", "qu", "en"]\npreferential_streak = 2'})
    settings = load_settings(data_dir, {})
    engine = Engine(Store.in_data_dir(data_dir), settings, SedeClock(settings.timezone, clock))
    engine.issue("ORI")  # A-001 normal, waits longest
    for _ in range(4):
        clock.advance(1)
        engine.issue("ORI", priority="adulto_mayor")  # A-002..A-005
    assert codes_called(engine, "v1", 5) == ["A-002", "A-003", "A-001", "A-004", "A-005"]


def test_without_streak_rule_preferential_always_first(engine, clock):
    engine.issue("ORI")
    for _ in range(3):
        clock.advance(1)
        engine.issue("ORI", priority="gestante")
    assert codes_called(engine, "v1", 4) == ["A-002", "A-003", "A-004", "A-001"]


def test_position_follows_call_order(engine, clock):
    normal, _ = engine.issue("ORI")
    clock.advance(1)
    pref, _ = engine.issue("ORI", priority="gestante")
    assert pref["position"] == 1
    assert engine.get_ticket(normal["id"])["position"] == 2
    assert engine.public_ticket(normal["public_id"])["position"] == 2


def test_sql_position_agrees_with_the_python_order(engine, clock):
    """ordering.position (SQL) and ordering.queue_order (Python) are one rule written twice."""
    import random

    rng = random.Random(7)
    for index in range(6):
        engine.upsert_appointment({"id": f"c{index}", "service": "ORI", "status": "booked",
                                   "starts_at": f"2026-11-25T{9 + index // 2:02d}:{(index % 2) * 30:02d}:00-05:00"})
    appointments = [f"c{index}" for index in range(6)]
    for _ in range(40):
        clock.advance(rng.choice([0, 0, 1, 30]))  # ties in time are part of the test
        if appointments and rng.random() < 0.2:
            engine.issue(None, appointment=appointments.pop())
        else:
            engine.issue("ORI", priority=rng.choice([None, None, "gestante", "urgente", "adulto_mayor"]),
                         channel="staff")
    for moment in ("10:00", "10:20", "10:50", "11:40"):
        clock.set(datetime.fromisoformat(f"2026-11-25T{moment}:00-05:00"))
        listed = engine.queue("ORI")
        assert [t["position"] for t in listed] == list(range(1, len(listed) + 1))
        assert [engine.get_ticket(t["id"])["position"] for t in listed] == list(range(1, len(listed) + 1))
