"""The supervisor's alerts and summary (turnero/supervision.py): each rule fires past its threshold
and clears below it, with the FakeClock; messages come from the catalog with the numbers filled in
and name a service or a counter, never a person."""
from __future__ import annotations

import json

from turnero import supervision


def alerts(engine, health=None, code=None):
    found = supervision.overview(engine, health)["alerts"]
    return [alert for alert in found if code is None or alert["code"] == code]


def test_people_waiting_in_a_service_no_open_counter_serves(engine, clock):
    engine.issue("PEN")
    [alert] = alerts(engine, code="unstaffed_queue")
    assert (alert["severity"], alert["service"], alert["service_name"]) == ("danger", "PEN", "Defensa penal")
    assert alert["message"] == ("Defensa penal: 1 persona espera y ninguna ventanilla abierta atiende "
                                "este servicio.")
    engine.open_counter("v2", "ana")  # ORI and CON: PEN still has nobody
    assert len(alerts(engine, code="unstaffed_queue")) == 1
    engine.open_counter("v1", "beto")  # ORI and PEN
    assert alerts(engine, code="unstaffed_queue") == []
    engine.pause_counter("v1", "beto", "Reunión")  # a paused counter serves nobody
    engine.issue("PEN")
    [alert] = alerts(engine, code="unstaffed_queue")
    assert alert["message"].startswith("Defensa penal: 2 personas esperan")
    engine.resume_counter("v1", "beto")
    assert alerts(engine, code="unstaffed_queue") == []


def test_waits_past_the_service_target_warn_then_turn_danger_at_twice_it(engine, clock):
    engine.open_counter("v1", "ana")
    ticket, _ = engine.issue("ORI")  # ORI target: 20 minutes
    clock.advance(20 * 60)
    assert alerts(engine, code="wait_over_target") == []
    clock.advance(1)
    [alert] = alerts(engine, code="wait_over_target")
    assert (alert["severity"], alert["service"]) == ("warning", "ORI")
    assert alert["message"] == ("Orientación legal: 1 persona espera más que el objetivo de 20 min "
                                "(la mayor espera: 20 min).")
    clock.advance(20 * 60 - 2)
    assert alerts(engine, code="wait_over_target")[0]["severity"] == "warning"
    clock.advance(1)  # 40 minutes: twice the target
    assert alerts(engine, code="wait_over_target")[0]["severity"] == "danger"
    engine.call(ticket["id"], "v1", "ana")
    assert alerts(engine, code="wait_over_target") == []


def test_a_priority_ticket_past_the_preferential_goal(engine, clock):
    engine.open_counter("v1", "ana")
    engine.issue("ORI")  # a normal ticket never raises this alert
    elder, _ = engine.issue("ORI", priority="adulto_mayor")
    clock.advance(10 * 60)  # [reports] preferential_wait_goal_minutes = 10, shorter than ORI's 20
    assert alerts(engine, code="preferential_over_target") == []
    clock.advance(1)
    [alert] = alerts(engine, code="preferential_over_target")
    assert (alert["severity"], alert["service"], alert["ticket"]) == ("danger", "ORI", elder["code"])
    assert alert["message"] == f"Orientación legal: 1 turno con prioridad espera más de 10 min ({elder['code']}, 10 min)."
    urgent, _ = engine.issue("PEN", priority="urgente")  # PEN target 30: the goal of 10 applies
    clock.advance(10 * 60 + 1)
    codes = {alert["service"]: alert["ticket"] for alert in alerts(engine, code="preferential_over_target")}
    assert codes == {"ORI": elder["code"], "PEN": urgent["code"]}
    engine.call(elder["id"], "v1", "ana")
    assert [a["service"] for a in alerts(engine, code="preferential_over_target")] == ["PEN"]


def test_the_preferential_target_is_the_service_target_without_a_goal(engine, clock):
    engine.settings.reports["preferential_wait_goal_minutes"] = 0
    engine.open_counter("v1", "ana")
    engine.issue("ORI", priority="gestante")
    clock.advance(20 * 60)
    assert alerts(engine, code="preferential_over_target") == []
    clock.advance(1)
    assert len(alerts(engine, code="preferential_over_target")) == 1


def test_a_long_pause(engine, clock):
    assert engine.settings.console["long_pause_minutes"] == 15  # the default
    engine.open_counter("v2", "ana")
    engine.pause_counter("v2", "ana", "Almuerzo")
    clock.advance(15 * 60 - 1)
    assert alerts(engine, code="long_pause") == []
    clock.advance(1)
    [alert] = alerts(engine, code="long_pause")
    assert (alert["severity"], alert["counter"], alert["counter_name"]) == ("warning", "v2", "Ventanilla 2")
    assert alert["message"] == "Ventanilla 2 está en pausa desde hace 15 min (aviso a partir de 15 min)."
    engine.resume_counter("v2", "ana")
    assert alerts(engine, code="long_pause") == []
    engine.settings.console["long_pause_minutes"] = 5
    engine.pause_counter("v2", "ana", "Almuerzo")
    clock.advance(5 * 60)
    assert len(alerts(engine, code="long_pause")) == 1


def test_printer_down_from_its_health(engine):
    for status in ("ok", "disabled", "unchecked"):
        assert alerts(engine, {"printer": {"status": status}}) == []
    [alert] = alerts(engine, {"printer": {"status": "paper_out", "detail": "x"}})
    assert (alert["code"], alert["severity"]) == ("printer_down", "danger")
    assert alert["message"] == "Impresora de turnos: Sin papel. Los turnos nuevos pueden no imprimirse."
    [alert] = alerts(engine, {"printer": {"status": "paper_near_end"}})
    assert (alert["severity"], alert["message"]) == (
        "warning", "Impresora de turnos: Poco papel. Los turnos nuevos pueden no imprimirse.")
    assert alerts(engine, {"printer": {"status": "error"}})[0]["severity"] == "danger"


def test_sync_stopped_or_long_behind(engine):
    assert alerts(engine, {"sync": {"state": "ok", "backlog": 3}}) == []
    assert alerts(engine, {"sync": {"state": "disabled", "backlog": 300}}) == []
    [alert] = alerts(engine, {"sync": {"state": "stopped", "backlog": 12}})
    assert (alert["code"], alert["severity"]) == ("sync_stopped", "danger")
    assert alert["message"] == "La sincronización con el sistema central está detenida: 12 eventos sin enviar."
    retrying = {"state": "retrying", "backlog": 4, "oldest_unsynced_age_seconds": 30 * 60 - 1}
    assert alerts(engine, {"sync": retrying}) == []
    [alert] = alerts(engine, {"sync": {**retrying, "oldest_unsynced_age_seconds": 30 * 60}})
    assert (alert["code"], alert["severity"]) == ("sync_behind", "warning")


def test_alerts_are_worst_first_and_never_name_a_person(engine, clock):
    engine.issue("PEN", document={"type": "DNI", "number": "12345678"}, name="Rosa Quispe Mamani")
    engine.open_counter("v2", "ana")
    engine.pause_counter("v2", "ana", "Capacitación")
    clock.advance(31 * 60)
    found = alerts(engine, {"printer": {"status": "paper_near_end"}, "sync": {"state": "stopped", "backlog": 1}})
    assert [a["severity"] for a in found] == sorted((a["severity"] for a in found),
                                                    key=supervision.SEVERITY_ORDER.get)
    assert {a["code"] for a in found} == {"unstaffed_queue", "wait_over_target", "long_pause", "printer_down",
                                          "sync_stopped"}
    text = json.dumps(found, ensure_ascii=False)
    assert "Rosa" not in text and "12345678" not in text and "ana" not in text.replace("Ventanilla", "")


def test_summary_of_the_day(engine, clock):
    engine.open_counter("v1", "ana")
    engine.open_counter("v2", "beto")
    engine.pause_counter("v2", "beto", "Reunión")
    tickets = [engine.issue("ORI")[0] for _ in range(4)]
    waits = (60, 120, 300)
    for ticket, wait in zip(tickets, waits):
        clock.advance(wait)
        engine.call(ticket["id"], "v1", "ana")
        engine.start(ticket["id"], "ana")
        engine.finish(ticket["id"], "ana", "resolved")
    summary = supervision.overview(engine)["summary"]
    assert summary["waiting"] == 1 and summary["served"] == 3 and summary["called"] == 0
    assert summary["median_wait_seconds"] == 180  # 60, 60+120, 60+120+300 seconds after issue
    assert (summary["counters_open"], summary["counters_paused"], summary["counters_closed"]) == (1, 1, 1)
