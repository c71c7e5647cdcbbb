"""The state machine, numbering, rollover and counters, on a real SQLite file with an injected clock."""
from datetime import datetime

import pytest

from tests.conftest import LIMA, event_types
from turnero.errors import DomainError


def events(engine, after=0):
    return engine.events_after(after, 1000)


def raises(code, fn, *args, **kwargs):
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def test_issue_numbers_codes_and_event(engine):
    first, created = engine.issue("ORI")
    second, _ = engine.issue("ORI")
    other, _ = engine.issue("PEN")
    assert created
    assert (first["code"], second["code"], other["code"]) == ("A-001", "A-002", "B-001")
    assert (first["position"], second["position"]) == (1, 2)
    assert first["status"] == "waiting" and first["priority"] is None and first["channel"] == "kiosk"
    assert first["issued_at"].endswith("-05:00")
    assert first["status_url"] == f"http://turnero.test/t/{first['public_id']}"
    assert [e["seq"] for e in events(engine)] == [1, 2, 3]
    assert event_types(events(engine)) == ["ticket.issued"] * 3


def test_code_grows_past_999(engine):
    engine.store.connect().execute("INSERT INTO day_numbers VALUES ('ORI', '2026-11-25', 999)")
    ticket, _ = engine.issue("ORI")
    assert ticket["code"] == "A-1000" and ticket["number"] == 1000


def test_idempotency_key_returns_the_first_ticket(engine):
    first, created = engine.issue("ORI", idempotency_key="tap-1")
    again, created_again = engine.issue("ORI", idempotency_key="tap-1")
    assert created and not created_again
    assert again["id"] == first["id"]
    assert len(events(engine)) == 1


def test_numbers_restart_each_service_day_and_rollover_expires(engine, clock):
    waiting, _ = engine.issue("ORI")
    engine.issue("ORI")
    engine.call_next("v1", "ana")
    clock.set(datetime(2026, 11, 26, 0, 0, 30, tzinfo=LIMA))  # just past local midnight
    expired = engine.roll_over()
    assert expired == 2  # one waiting, one called
    assert engine.get_ticket(waiting["id"])["status"] == "expired"
    assert event_types(events(engine))[-2:] == ["ticket.expired", "ticket.expired"]
    fresh, _ = engine.issue("ORI")
    assert fresh["code"] == "A-001"
    assert engine.roll_over() == 0  # today's ticket is untouched


def test_rollover_uses_local_midnight_not_utc(engine, clock):
    clock.set(datetime(2026, 11, 25, 23, 30, tzinfo=LIMA))  # 04:30 UTC on the 26th
    late, _ = engine.issue("ORI")
    assert late["code"] == "A-001"
    assert engine.roll_over() == 0


def test_full_lifecycle_and_attention(engine, clock):
    ticket, _ = engine.issue("PEN", document={"type": "DNI", "number": "10000001"})
    called = engine.call_next("v1", "ana")
    assert called["id"] == ticket["id"] and called["status"] == "called" and called["counter"] == "v1"
    clock.advance(30)
    engine.start(ticket["id"], "ana")
    clock.advance(600)
    done = engine.finish(ticket["id"], "ana", "resolved", result="PEN-01", case_ref="EXP-1", notes="ok")
    assert done["status"] == "done"
    finished = events(engine)[-1]
    assert finished["type"] == "ticket.finished"
    attention = finished["data"]["attention"]
    assert attention["outcome"] == "resolved" and attention["result"] == "PEN-01"
    assert attention["wait_seconds"] == 0 and attention["service_seconds"] == 600
    assert attention["counter"] == "v1" and attention["staff"] == "ana"


def test_finish_rejects_unknown_result_code_and_outcome(engine):
    ticket, _ = engine.issue("PEN")
    engine.call_next("v1", "ana")
    engine.start(ticket["id"], "ana")
    raises("invalid_result", engine.finish, ticket["id"], "ana", "resolved", result="NOPE")
    raises("invalid_outcome", engine.finish, ticket["id"], "ana", "maybe")
    assert engine.get_ticket(ticket["id"])["status"] == "serving"


# SPEC.md, "States and transitions", written out here independently of the engine's table.
SPEC_ALLOWED = {
    "call": {"waiting"}, "recall": {"called"}, "start": {"called"}, "finish": {"serving"},
    "no_show": {"called"}, "transfer": {"called", "serving"}, "cancel": {"waiting", "called"},
    "requeue": {"no_show", "cancelled"}, "return": {"called"}, "priority": {"waiting"},
}
STATES = ["waiting", "called", "serving", "done", "no_show", "transferred", "cancelled", "expired"]


def ticket_in_state(engine, state):
    """A fresh ORI ticket brought to ``state`` through allowed transitions (counter v1 freed after)."""
    ticket, _ = engine.issue("ORI")
    tid = ticket["id"]
    if state == "waiting":
        return tid
    if state == "expired":
        engine.close_day()
        return tid
    engine.call(tid, "v1", "ana")
    if state == "called":
        return tid
    if state == "no_show":
        engine.no_show(tid, "ana")
    elif state == "cancelled":
        engine.cancel(tid, "ana")
    elif state == "transferred":
        engine.transfer(tid, "PEN", "ana")
    else:
        engine.start(tid, "ana")
        if state == "done":
            engine.finish(tid, "ana", "resolved")
    return tid


def attempt(engine, action, tid):
    counter = engine.get_ticket(tid)["counter"] or "v1"
    return {
        "call": lambda: engine.call(tid, "v2", "beto"),
        "recall": lambda: engine.recall(counter, "ana"),
        "start": lambda: engine.start(tid, "ana"),
        "finish": lambda: engine.finish(tid, "ana", "resolved"),
        "no_show": lambda: engine.no_show(tid, "ana"),
        "transfer": lambda: engine.transfer(tid, "PEN", "ana"),
        "cancel": lambda: engine.cancel(tid, "ana"),
        "requeue": lambda: engine.requeue(tid, "sofia"),
        "return": lambda: engine.return_to_queue(tid, "ana"),
        "priority": lambda: engine.set_priority(tid, "gestante", "ana"),
    }[action]()


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(SPEC_ALLOWED))
def test_transition_matrix(engine, state, action):
    engine.open_counter("v2", "beto")  # so a call appends only its own event
    tid = ticket_in_state(engine, state)
    assert engine.get_ticket(tid)["status"] == state
    before = engine.last_seq()
    if state in SPEC_ALLOWED[action]:
        attempt(engine, action, tid)
        assert engine.last_seq() == before + 1  # exactly one event per transition
    else:
        with pytest.raises(DomainError) as info:
            attempt(engine, action, tid)
        assert info.value.status == 409, info.value.code
        assert engine.last_seq() == before
        assert engine.get_ticket(tid)["status"] == state


def test_wrong_state_message_names_the_counter(engine):
    ticket, _ = engine.issue("ORI")
    engine.call_next("v2", "beto")
    error = raises("wrong_state", engine.call, ticket["id"], "v1", "ana")
    assert "Ventanilla 2" in error.message and "A-001" in error.message


def test_no_show_requeue_goes_to_the_back(engine, clock):
    first, _ = engine.issue("ORI")
    clock.advance(10)
    second, _ = engine.issue("ORI")
    engine.call_next("v1", "ana")
    noshow = engine.no_show(first["id"], "ana")
    assert noshow["status"] == "no_show"
    assert events(engine)[-1]["data"]["attention"]["outcome"] == "no_show"
    clock.advance(10)
    requeued = engine.requeue(first["id"], "sofia")
    assert requeued["status"] == "waiting" and requeued["counter"] is None
    assert [t["code"] for t in engine.queue("ORI")] == ["A-002", "A-001"]


def test_return_keeps_the_place_in_the_queue(engine, clock):
    first, _ = engine.issue("ORI")
    clock.advance(5)
    engine.issue("ORI")
    engine.call_next("v1", "ana")
    returned = engine.return_to_queue(first["id"], "ana")
    assert returned["status"] == "waiting" and returned["position"] == 1
    assert engine.counter("v1")["ticket"] is None


def test_transfer_keeps_code_public_id_issue_time_and_priority(engine, clock):
    early, _ = engine.issue("ORI", priority="adulto_mayor")
    clock.advance(60)
    engine.issue("PEN")  # someone already waiting in PEN, issued later
    engine.call_next("v2", "beto")
    engine.start(early["id"], "beto")
    clock.advance(120)
    new = engine.transfer(early["id"], "PEN", "beto", notes="pasa a penal")
    assert new["id"] != early["id"]
    assert (new["code"], new["public_id"], new["issued_at"], new["priority"]) == \
        (early["code"], early["public_id"], early["issued_at"], "adulto_mayor")
    assert new["service"] == "PEN" and new["status"] == "waiting" and new["position"] == 1
    assert engine.get_ticket(early["id"])["status"] == "transferred"
    event = events(engine)[-1]
    assert event["type"] == "ticket.transferred"
    assert event["data"]["from"]["id"] == early["id"] and event["data"]["to"]["id"] == new["id"]
    assert event["data"]["attention"]["outcome"] == "referred"
    assert engine.public_ticket(early["public_id"])["status"] == "waiting"  # follows the person
    other, _ = engine.issue("ORI")
    engine.call(other["id"], "v1", "ana")
    raises("same_service", engine.transfer, other["id"], "ORI", "ana")


def test_transfer_from_called_writes_no_attention(engine):
    ticket, _ = engine.issue("ORI")
    engine.call_next("v1", "ana")
    engine.transfer(ticket["id"], "PEN", "ana")
    assert "attention" not in events(engine)[-1]["data"]


def test_priority_change_only_while_waiting(engine):
    ticket, _ = engine.issue("ORI")
    changed = engine.set_priority(ticket["id"], "urgente", "ana")
    assert changed["priority"] == "urgente"
    assert events(engine)[-1]["data"]["previous"] is None
    raises("invalid_priority", engine.set_priority, ticket["id"], "vip", "ana")
    engine.call_next("v1", "ana")
    raises("wrong_state", engine.set_priority, ticket["id"], None, "ana")


def test_recall_needs_a_called_ticket(engine):
    raises("nothing_to_recall", engine.recall, "v1", "ana")
    ticket, _ = engine.issue("ORI")
    engine.call_next("v1", "ana")
    recalled = engine.recall("v1", "ana")
    assert recalled["recalls"] == 1
    assert events(engine)[-1]["type"] == "ticket.recalled"
    board = engine.board()
    assert [entry["recall"] for entry in board] == [True, False]
    assert board[0]["code"] == board[1]["code"] == "A-001"
    engine.start(ticket["id"], "ana")
    raises("nothing_to_recall", engine.recall, "v1", "ana")


def test_counter_busy_paused_taken_and_moves(engine):
    engine.issue("ORI")
    engine.issue("ORI")
    assert engine.call_next("v1", "ana")["code"] == "A-001"
    assert [e["type"] for e in events(engine)][-2:] == ["counter.opened", "ticket.called"]
    raises("counter_busy", engine.call_next, "v1", "ana")
    raises("counter_taken", engine.call_next, "v1", "beto")
    raises("staff_busy", engine.open_counter, "v2", "ana")  # ana still holds A-001 at v1
    raises("counter_busy", engine.pause_counter, "v1", "ana", "almuerzo")
    engine.cancel(engine.counter("v1")["ticket"]["id"], "ana")
    paused = engine.pause_counter("v1", "ana", "almuerzo")
    assert paused["state"] == "paused" and paused["pause_reason"] == "almuerzo"
    raises("counter_paused", engine.call_next, "v1", "ana")
    raises("invalid_reason", engine.pause_counter, "v1", "ana", "  ")
    assert engine.resume_counter("v1", "ana")["state"] == "open"
    moved = engine.open_counter("v2", "ana")  # moves ana from v1 to v2
    assert moved["state"] == "open" and moved["staff"] == "ana"
    assert engine.counter("v1")["state"] == "closed"
    raises("unknown_counter", engine.call_next, "v9", "ana")


def test_nothing_waiting_returns_none_and_opens_the_counter(engine):
    assert engine.call_next("v1", "ana") is None
    assert engine.counter("v1")["state"] == "open"


def test_daily_cap_and_hours(engine, clock):
    for _ in range(3):
        engine.issue("CON")
    raises("daily_cap_reached", engine.issue, "CON")
    overview = {s["code"]: s for s in engine.services_overview()}
    assert overview["CON"]["open"] is False and overview["CON"]["closed_reason"] == "daily_cap_reached"
    clock.set(datetime(2026, 11, 26, 18, 0, tzinfo=LIMA))
    raises("service_closed", engine.issue, "CON")
    assert {s["code"]: s for s in engine.services_overview()}["CON"]["closed_reason"] == "closed"


def test_bad_input_changes_nothing(engine):
    raises("unknown_service", engine.issue, "XXX")
    raises("invalid_priority", engine.issue, "ORI", priority="vip")
    raises("invalid_language", engine.issue, "ORI", language="ay")  # not enabled at this sede
    raises("invalid_document", engine.issue, "ORI", document={"type": "DNI", "number": "1234"})
    assert events(engine) == []
    assert engine.store.read_one("SELECT COUNT(*) FROM tickets")[0] == 0
    assert engine.issue("ORI")[0]["code"] == "A-001"  # no number was burnt


def test_close_day_expires_waiting_and_called_only(engine):
    a, _ = engine.issue("ORI")
    b, _ = engine.issue("ORI")
    c, _ = engine.issue("PEN")
    engine.call_next("v1", "ana")  # A-001 called
    engine.start(a["id"], "ana")  # serving: stays
    engine.call_next("v2", "beto")  # A-002 called
    assert engine.close_day() == 2
    statuses = {t: engine.get_ticket(t)["status"] for t in (a["id"], b["id"], c["id"])}
    assert statuses == {a["id"]: "serving", b["id"]: "expired", c["id"]: "expired"}


def test_seq_is_gap_free_even_after_failed_transitions(engine):
    engine.issue("ORI")
    for bad in ("XXX", "YYY"):
        with pytest.raises(DomainError):
            engine.issue(bad)
    engine.call_next("v1", "ana")
    seqs = [e["seq"] for e in events(engine)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_estimate_is_null_until_a_counter_serving_the_service_opens(engine):
    for _ in range(3):
        engine.issue("PEN")
    assert [(t["eta_minutes"], t["eta_range_minutes"]) for t in engine.queue("PEN")] == [(None, None)] * 3
    engine.open_counter("v2", "beto")  # ORI and CON: still nobody for PEN
    assert engine.queue("PEN")[0]["eta_minutes"] is None
    engine.open_counter("v1", "ana")  # ORI and PEN
    waits = [(t["eta_range_minutes"]["low"], t["eta_minutes"], t["eta_range_minutes"]["high"])
             for t in engine.queue("PEN")]
    assert all(low <= median <= high for low, median, high in waits)
    assert waits[0][1] == 0 and waits[1][1] < waits[2][1]  # a free counter calls the first now
    # no history: PEN's configured 15 min per attention, one counter: the third waits about 30
    assert 20 <= waits[2][1] <= 40 and waits[2][0] < waits[2][1] < waits[2][2]


def test_appointments_are_called_in_their_window(engine, clock):
    walk_in, _ = engine.issue("ORI")
    engine.upsert_appointment({"id": "cita-1", "service": "ORI", "starts_at": "2026-11-25T10:30:00-05:00",
                               "document": {"type": "DNI", "number": "10000001"}, "status": "booked"})
    assert engine.appointments_for_document("10000001")[0]["id"] == "cita-1"
    booked, _ = engine.issue(None, appointment="cita-1")
    assert booked["channel"] == "appointment" and booked["document"]["number"] == "10000001"
    raises("appointment_used", engine.issue, None, appointment="cita-1")
    raises("unknown_appointment", engine.issue, None, appointment="nope")
    # 10:00, slot 10:30, window opens 10:15: arrival order for now
    assert [t["id"] for t in engine.queue("ORI")] == [walk_in["id"], booked["id"]]
    clock.set(datetime(2026, 11, 25, 10, 20, tzinfo=LIMA))
    assert engine.call_next("v1", "ana")["id"] == booked["id"]


def test_late_appointment_falls_back_to_walk_in_order(engine, clock):
    engine.upsert_appointment({"id": "cita-2", "service": "ORI", "starts_at": "2026-11-25T09:00:00-05:00",
                               "status": "booked"})
    walk_in, _ = engine.issue("ORI")
    clock.advance(60)
    late, _ = engine.issue(None, appointment="cita-2")
    assert engine.call_next("v1", "ana")["id"] == walk_in["id"]


def test_cancelled_appointment_is_refused(engine):
    engine.upsert_appointment({"id": "cita-3", "service": "ORI", "starts_at": "2026-11-25T10:30:00-05:00",
                               "status": "cancelled"})
    raises("appointment_cancelled", engine.issue, None, appointment="cita-3")


def test_ticket_history_lists_its_events(engine):
    ticket, _ = engine.issue("ORI")
    engine.call_next("v1", "ana")
    engine.recall("v1", "ana")
    engine.start(ticket["id"], "ana")
    history = engine.ticket_history(ticket["id"])
    assert [e["type"] for e in history] == ["ticket.issued", "ticket.called", "ticket.recalled", "ticket.started"]
    moved = engine.transfer(ticket["id"], "PEN", "ana")
    assert engine.ticket_history(ticket["id"])[-1]["type"] == "ticket.transferred"
    assert [e["type"] for e in engine.ticket_history(moved["id"])] == ["ticket.transferred"]


def test_connections_of_finished_threads_are_released(engine):
    import gc
    import threading

    store = engine.store
    store.connect()
    before = len(store._all_conns)
    threads = [threading.Thread(target=lambda: store.read("SELECT 1")) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert len(store._all_conns) == before


def test_a_discreet_service_may_share_a_prefix_and_its_numbering(tmp_path, clock):
    """The hall cannot tell a victim's ticket by its letter: VIC shares "A" with ORI."""
    from config import load_settings
    from tests.conftest import SEDE_TOML, write_sede
    from turnero.clock import SedeClock
    from turnero.engine import Engine
    from turnero.store import Store

    data = write_sede(tmp_path / "shared", SEDE_TOML.replace('prefix = "V"', 'prefix = "A"'))
    settings = load_settings(data, {})
    assert settings.services["VIC"].number_key == settings.services["ORI"].number_key == "prefix:A"
    store = Store.in_data_dir(data)
    engine = Engine(store, settings, SedeClock(settings.timezone, clock))
    codes = [engine.issue(service)[0]["code"] for service in ("ORI", "VIC", "ORI", "PEN")]
    assert codes == ["A-001", "A-002", "A-003", "B-001"]  # one sequence, no code twice in the hall
    store.close()
