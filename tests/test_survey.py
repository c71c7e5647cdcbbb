"""The survey "¿Cómo fue su atención?" through the API: once, only after the visit is done, never
with a name on the hall, kept with the events that the central receives; and appointments found
by their code."""
from __future__ import annotations

import threading

from conftest import error_code

from turnero.errors import DomainError
from turnero.retention import purge_personal_data


def _served(api, tokens, service="ORI", counter="v1"):
    ticket = api.post("/tickets", {"service": service}).get_json()
    api.post(f"/tickets/{ticket['id']}/call", {"counter": counter})
    api.post(f"/tickets/{ticket['id']}/start")
    return ticket


def _finish(api, ticket):
    response = api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved"})
    assert response.status_code == 200, response.get_json()


def _survey(app, public_id, body):
    return app.test_client().post(f"/api/v1/public/tickets/{public_id}/survey", json=body)


def test_a_finished_ticket_is_rated_once_and_the_event_carries_it(app, api, tokens):
    ticket = _served(api, tokens)
    early = _survey(app, ticket["public_id"], {"score": 5})
    assert early.status_code == 409 and error_code(early) == "not_finished"
    _finish(api, ticket)
    answer = _survey(app, ticket["public_id"], {"score": 4, "comment": "  Me explicaron todo.  "})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["survey"]["score"] == 4
    assert answer.get_json()["survey"]["comment"] == "Me explicaron todo."
    again = _survey(app, ticket["public_id"], {"score": 1})
    assert again.status_code == 409 and error_code(again) == "already_rated"

    events = api.get("/events?after=0&limit=1000").get_json()["events"]
    rated = [event for event in events if event["type"] == "ticket.rated"]
    assert len(rated) == 1, "the refused second answer left no event"
    assert rated[0]["data"]["score"] == 4 and rated[0]["data"]["comment"] == "Me explicaron todo."
    assert rated[0]["data"]["ticket"]["id"] == ticket["id"]
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(1, len(seqs) + 1)), "no gap in seq"
    hall = api.as_(tokens["display"]).get("/events?after=0&limit=1000").get_json()["events"]
    rated_hall = [event for event in hall if event["type"] == "ticket.rated"]
    assert rated_hall and "comment" not in rated_hall[0]["data"] and "score" not in rated_hall[0]["data"]


def test_bad_answers_are_refused_clearly_and_nothing_is_stored(app, api, tokens):
    ticket = _served(api, tokens)
    _finish(api, ticket)
    public_id = ticket["public_id"]
    cases = [({"score": 0}, 422, "invalid_score"), ({"score": 6}, 422, "invalid_score"),
             ({"score": True}, 400, "invalid_type"), ({"score": "5"}, 400, "invalid_type"),
             ({}, 422, "missing_field"), ({"score": 3, "comment": "x" * 501}, 422, "invalid_comment"),
             ({"score": 3, "comment": 7}, 400, "invalid_type"),
             ({"score": 3, "comment": "bien\u202e"}, 422, "invalid_comment")]
    for body, status, code in cases:
        response = _survey(app, public_id, body)
        assert (response.status_code, error_code(response)) == (status, code), body
    raw = app.test_client().post(f"/api/v1/public/tickets/{public_id}/survey", data="{no json",
                                 headers={"Content-Type": "application/json"})
    assert raw.status_code == 400 and error_code(raw) == "malformed_json"
    missing = _survey(app, "no-existe", {"score": 3})
    assert missing.status_code == 404 and missing.is_json
    ok = _survey(app, public_id, {"score": 3, "comment": "x" * 500})
    assert ok.status_code == 201, "the refusals before did not use up the one answer"


def test_a_transferred_visit_is_rated_once_when_its_last_ticket_is_done(app, api, tokens):
    ticket = _served(api, tokens)
    moved = api.post(f"/tickets/{ticket['id']}/transfer", {"service": "PEN"}).get_json()["ticket"]
    assert _survey(app, ticket["public_id"], {"score": 5}).status_code == 409
    new_id = [t for t in api.get("/queue?service=PEN").get_json()["tickets"] if t["code"] == moved["code"]][0]["id"]
    api.post(f"/tickets/{new_id}/call", {"counter": "v1"})
    api.post(f"/tickets/{new_id}/start")
    _finish(api, {"id": new_id})
    assert _survey(app, ticket["public_id"], {"score": 5}).status_code == 201
    assert _survey(app, ticket["public_id"], {"score": 5}).status_code == 409


def test_the_comment_is_purged_with_the_personal_data_and_the_score_stays(app, api, tokens, clock):
    ticket = _served(api, tokens)
    _finish(api, ticket)
    assert _survey(app, ticket["public_id"], {"score": 2, "comment": "Me atendió Rosa Quispe"}).status_code == 201
    engine = app.extensions["turnero"].engine
    clock.advance(40 * 86400)
    last = engine.last_seq()
    purge_personal_data(engine.store, clock(), last, 30)
    row = engine.store.read_one("SELECT score, comment FROM ratings WHERE public_id = ?", (ticket["public_id"],))
    assert (row["score"], row["comment"]) == (2, None)
    rated = [event for event in engine.events_after(0, 1000) if event["type"] == "ticket.rated"]
    assert rated[0]["data"]["score"] == 2 and "comment" not in rated[0]["data"]


def test_an_appointment_is_found_by_its_code_as_typed(app, api, tokens, clock):
    engine = app.extensions["turnero"].engine
    starts = engine.clock.local().replace(hour=11, minute=0).isoformat()
    engine.upsert_appointment({"id": "CP-2026-0042", "service": "ORI", "starts_at": starts, "status": "booked",
                               "document": {"type": "DNI", "number": "41234567"}})
    kiosk = api.as_(tokens["kiosk"])
    for typed in ("CP-2026-0042", " cp-2026-0042 "):
        found = kiosk.get(f"/appointments?code={typed}").get_json()["appointments"]
        assert [item["id"] for item in found] == ["CP-2026-0042"], typed
        assert "service" not in found[0] and "document" not in found[0], "a kiosk never learns whose or which"
    assert kiosk.get("/appointments?code=CP-2026-0043").get_json()["appointments"] == []
    neither = kiosk.get("/appointments")
    assert neither.status_code == 422 and error_code(neither) == "missing_field"
    long = kiosk.get("/appointments?code=" + "A" * 65)
    assert long.status_code == 422 and error_code(long) == "invalid_code"
    issued = kiosk.post("/tickets", {"appointment": "CP-2026-0042"})
    assert issued.status_code == 201 and issued.get_json()["channel"] == "appointment"
    assert kiosk.get("/appointments?code=CP-2026-0042").get_json()["appointments"] == [], "used: not offered again"


def test_answers_sent_at_once_store_one(app, api, tokens):
    """Eight taps on "Enviar" from two phones at once: one answer, one event, the rest refused."""
    ticket = _served(api, tokens)
    _finish(api, ticket)
    engine = app.extensions["turnero"].engine
    outcomes, start = [], threading.Barrier(8)

    def answer(score):
        start.wait()
        try:
            engine.rate(ticket["public_id"], score)
            outcomes.append("stored")
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=answer, args=(1 + index % 5,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already_rated"] * 7 + ["stored"]
    rated = [event for event in engine.events_after(0, 1000) if event["type"] == "ticket.rated"]
    assert len(rated) == 1
