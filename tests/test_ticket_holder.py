"""Only the staff member holding a called or serving ticket acts on it, or a supervisor, recorded as
such; the attention record names who acted (security review, round two, item 4)."""
import pytest

from tests.conftest import Api


def error_code(response):
    return response.json["error"]["code"]


@pytest.fixture
def held(app, tokens):
    """Ana calls a ticket at v1; Beto is another staff member; Sofía a supervisor."""
    client = app.test_client()
    ana, beto, sofia = (Api(client, tokens[name]) for name in ("ana", "beto", "sofia"))
    ana.post("/tickets", {"service": "ORI"})
    ticket = ana.post("/counters/v1/call-next").json["ticket"]
    return ticket, ana, beto, sofia


ACTIONS = {
    "start": ("/tickets/{id}/start", None),
    "no-show": ("/tickets/{id}/no-show", None),
    "transfer": ("/tickets/{id}/transfer", {"service": "PEN"}),
    "cancel": ("/tickets/{id}/cancel", {"reason": "x"}),
    "return": ("/tickets/{id}/return", None),
    "recall": ("/counters/v1/recall", None),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_another_staff_member_cannot_act_on_a_held_ticket(app, held, action):
    ticket, ana, beto, _ = held
    path, body = ACTIONS[action]
    events_before = app.extensions["turnero"].engine.last_seq()
    refused = beto.post(path.format(id=ticket["id"]), body)
    assert refused.status_code == 409 and error_code(refused) == "ticket_taken"
    assert refused.json["error"]["holder"] == "ana"
    assert app.extensions["turnero"].engine.last_seq() == events_before  # nothing happened
    assert ana.get(f"/tickets/{ticket['id']}").json["status"] == "called"


def test_finish_by_someone_else_is_refused_and_the_holder_finishes(app, held):
    ticket, ana, beto, _ = held
    ana.post(f"/tickets/{ticket['id']}/start")
    refused = beto.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved"})
    assert refused.status_code == 409 and error_code(refused) == "ticket_taken"
    done = ana.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved"})
    assert done.status_code == 200
    attention = app.extensions["turnero"].store.read_one("SELECT staff FROM attentions")
    assert attention["staff"] == "ana"


def test_a_supervisor_may_act_and_is_named_in_the_record(app, held):
    ticket, ana, _, sofia = held
    started = sofia.post(f"/tickets/{ticket['id']}/start")
    assert started.status_code == 200
    finished = sofia.post(f"/tickets/{ticket['id']}/finish", {"outcome": "pending"})
    assert finished.status_code == 200
    engine = app.extensions["turnero"].engine
    events = engine.events_after(0)
    finish = next(event for event in events if event["type"] == "ticket.finished")
    assert finish["data"]["override"] == {"by": "sofia", "holder": "ana", "as": "supervisor"}
    assert finish["data"]["attention"]["staff"] == "sofia"  # who acted, not who held it
    start = next(event for event in events if event["type"] == "ticket.started")
    assert start["data"]["override"]["by"] == "sofia"
    trail = engine.store.read("SELECT actor, role, action FROM audit_log ORDER BY id")
    assert ("sofia", "supervisor", f"POST /api/v1/tickets/{ticket['id']}/finish") in [tuple(row) for row in trail]


def test_the_holder_acting_carries_no_override(app, held):
    ticket, ana, _, _ = held
    ana.post(f"/tickets/{ticket['id']}/start")
    event = app.extensions["turnero"].engine.events_after(0)[-1]
    assert event["type"] == "ticket.started" and "override" not in event["data"]
