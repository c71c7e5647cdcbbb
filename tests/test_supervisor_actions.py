"""Supervisor actions through the API: each recorded in its event with who and why; the overview."""
from __future__ import annotations


def test_overview_counters_queues_and_tickets_beyond_target(app, api, tokens, clock):
    sofia = api.as_(tokens["sofia"])
    normal = api.post("/tickets", {"service": "ORI"}).json
    clock.advance(25 * 60)  # ORI target is 20 minutes
    elder = api.post("/tickets", {"service": "ORI", "priority": "adulto_mayor"}).json
    clock.advance(5 * 60)
    late_elder = api.post("/tickets", {"service": "PEN", "priority": "gestante"}).json
    clock.advance(31 * 60)  # PEN target is 30 (default): late_elder is now beyond it too
    api.post("/counters/v2/open")
    clock.advance(90)
    api.as_(tokens["beto"]).post("/counters/v1/open")
    api.as_(tokens["beto"]).post("/counters/v1/pause", {"reason": "Reunión"})
    view = sofia.get("/supervision").json
    counters = {c["id"]: c for c in view["counters"]}
    assert counters["v2"]["staff"] == "ana" and counters["v2"]["idle_seconds"] == 90
    assert counters["v1"]["state"] == "paused" and counters["v1"]["pause_reason"] == "Reunión"
    assert counters["v1"]["idle_seconds"] is None and counters["c1"]["state"] == "closed"
    ori = next(q for q in view["queues"] if q["code"] == "ORI")
    assert (ori["waiting"], ori["beyond_target"], ori["target_wait_minutes"]) == (2, 2, 20)
    assert ori["longest_wait_seconds"] == 61 * 60 + 90
    # Beyond target: preferential first (the longest-waiting first among them), then the others.
    assert [t["code"] for t in view["beyond_target"]] == [elder["code"], late_elder["code"], normal["code"]]
    assert api.get("/supervision").status_code == 403


def test_actions_carry_who_and_why(app, api, tokens):
    engine = app.extensions["turnero"].engine
    sofia = api.as_(tokens["sofia"])
    first = api.post("/tickets", {"service": "ORI"}).json
    second = api.post("/tickets", {"service": "ORI"}).json
    api.post("/counters/v1/call-next")
    assert api.post(f"/tickets/{first['id']}/no-show").status_code == 200
    assert sofia.post(f"/tickets/{first['id']}/requeue", {"reason": "Volvió"}).json["ticket"]["status"] == "waiting"
    assert sofia.post(f"/tickets/{second['id']}/cancel", {"reason": "Duplicado"}).status_code == 200
    moved = sofia.post("/counters/v1/services", {"services": ["PEN", "PEN"], "reason": "Apoyo a penal"})
    assert moved.json["counter"]["services"] == ["PEN"] and moved.json["counter"]["staff"] == "ana"
    closed = sofia.post("/close-day", {"reason": "Cierre"})
    assert closed.json == {"service_day": "2026-11-25", "expired": 1}
    audit = sofia.get("/supervision").json["audit"]
    assert [(a["type"], a["by"], a["reason"]) for a in audit[:5]] == [
        ("day.closed", "sofia", "Cierre"), ("ticket.expired", "sofia", "Cierre"),
        ("counter.services_changed", "sofia", "Apoyo a penal"), ("ticket.cancelled", "sofia", "Duplicado"),
        ("ticket.requeued", "sofia", "Volvió")]
    changed = [e for e in engine.events_after(0) if e["type"] == "counter.services_changed"][0]
    assert changed["data"]["previous"] == ["ORI", "PEN"]
    requeueable = api.get("/tickets?status=no_show,cancelled").json["tickets"]
    assert [t["code"] for t in requeueable] == [second["code"]]


def test_moving_services_of_a_closed_counter_or_to_nothing_is_refused(api, tokens):
    sofia = api.as_(tokens["sofia"])
    closed = sofia.post("/counters/c1/services", {"services": ["ORI"], "reason": "x"})
    assert closed.status_code == 409 and closed.json["error"]["code"] == "counter_closed"
    api.post("/counters/v1/open")
    for body, code in (({"services": [], "reason": "x"}, "unknown_service"),
                       ({"services": ["XXX"], "reason": "x"}, "unknown_service"),
                       ({"services": ["ORI"]}, "missing_reason"),
                       ({"services": ["ORI"], "reason": "x" * 121}, "invalid_reason")):
        answer = sofia.post("/counters/v1/services", body)
        assert answer.status_code == 422 and answer.json["error"]["code"] == code, body


def test_requeue_and_close_day_reject_bad_state_and_long_reasons(api, tokens):
    sofia = api.as_(tokens["sofia"])
    ticket = api.post("/tickets", {"service": "ORI"}).json
    wrong = sofia.post(f"/tickets/{ticket['id']}/requeue", {"reason": "x"})
    assert wrong.status_code == 409 and wrong.json["error"]["code"] == "wrong_state"
    assert sofia.post(f"/tickets/{ticket['id']}/requeue", {"reason": 5}).status_code == 400
    assert sofia.post("/close-day", {"reason": "x" * 500}).status_code == 422
    assert sofia.post("/close-day", {}).status_code == 422
