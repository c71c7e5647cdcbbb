"""One definition of personal data per audience (turnero.audiences): every event type and every
page's data walked through each audience; reads of personal data recorded; need-to-know for
discreet services; the kiosk's appointment lookup bounded and neutral."""
import json

import pytest

from tests.conftest import Api
from turnero import audit

NAME, DOCUMENT, NOTE, CASE, REASON, PAUSE = "Rosa Mamani", "45678912", "denuncia grave", "EXP-77", \
    "se fue llorando", "almuerzo con Rosa"
COMMENT = "me atendió el doctor Quispe"  # a survey comment may name someone
PERSONAL_VALUES = (NAME, DOCUMENT, NOTE, CASE, REASON, PAUSE, COMMENT)


def walk(value, path=""):
    """Every (path, key, value) in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def leaks(payload, forbidden_keys=()) -> list:
    found = []
    for path, key, value in walk(payload):
        if key in forbidden_keys:
            found.append(f"{path}.{key}")
        if isinstance(value, str) and any(secret in value for secret in PERSONAL_VALUES):
            found.append(f"{path}.{key}={value!r}")
    return found


@pytest.fixture
def every_event(app, tokens, clock):
    """A day that produces every event type, with personal data on a discreet (VIC) ticket and
    on a normal (ORI) one."""
    client = app.test_client()
    ana, sofia = Api(client, tokens["ana"]), Api(client, tokens["sofia"])
    person = {"name": NAME, "document": {"type": "DNI", "number": DOCUMENT}}
    vic = ana.post("/tickets", {"service": "VIC", **person}).json
    clock.advance(5)
    ori = ana.post("/tickets", {"service": "ORI", **person}).json
    ana.post("/tickets", {"service": "PEN", **person})
    called = ana.post("/counters/c1/call-next").json["ticket"]
    assert called["id"] == vic["id"]
    ana.post("/counters/c1/recall")
    ana.post(f"/tickets/{vic['id']}/start")
    ana.post(f"/tickets/{vic['id']}/finish", {"outcome": "pending", "notes": NOTE, "case_ref": CASE})
    rated = client.post(f"/api/v1/public/tickets/{vic['public_id']}/survey", json={"score": 5, "comment": COMMENT})
    assert rated.status_code == 201
    ana.post("/counters/c1/call-next")  # ORI
    ana.post(f"/tickets/{ori['id']}/return")
    ana.post("/counters/c1/call-next")
    ana.post(f"/tickets/{ori['id']}/start")
    moved = ana.post(f"/tickets/{ori['id']}/transfer", {"service": "PEN", "notes": NOTE}).json["ticket"]
    ana.post(f"/tickets/{moved['id']}/priority", {"priority": "gestante"})
    ana.post(f"/tickets/{moved['id']}/cancel", {"reason": REASON})
    sofia.post(f"/tickets/{moved['id']}/requeue", {"reason": "error"})
    ana.post("/counters/c1/pause", {"reason": PAUSE})
    ana.post("/counters/c1/resume")
    at_v1 = ana.post("/counters/v1/call-next").json["ticket"]
    assert ana.post(f"/tickets/{at_v1['id']}/no-show").status_code == 200
    ana.post("/counters/v1/close")
    ana.post("/tickets", {"service": "ORI", "priority": "discapacidad", **person})
    assert sofia.post("/counters/v2/call-next").json["ticket"]["priority"] == "discapacidad"
    sofia.post("/counters/v2/services", {"services": ["ORI"], "reason": "refuerzo"})
    sofia.post("/close-day", {"reason": "fin del día"})
    engine = app.extensions["turnero"].engine
    types = {event["type"] for event in engine.events_after(0, 1000)}
    assert types >= {"ticket.issued", "ticket.called", "ticket.recalled", "ticket.started", "ticket.finished",
                     "ticket.no_show", "ticket.transferred", "ticket.cancelled", "ticket.requeued",
                     "ticket.returned", "ticket.expired", "ticket.priority_changed", "ticket.rated", "counter.opened",
                     "counter.closed", "counter.paused", "counter.resumed", "counter.services_changed",
                     "day.closed"}, types
    return {"vic": vic, "ori": ori}


HALL_FORBIDDEN = ("document", "notes", "case_ref", "staff", "by", "reason", "pause_reason",
                  "priority", "public_id", "appointment", "attention", "override", "previous")


def test_every_event_type_as_each_audience_receives_it(app, tokens, every_event):
    client = app.test_client()
    for token in ("display", "display_vic"):
        events = Api(client, tokens[token]).get("/events?after=0&limit=1000").json["events"]
        assert events and not leaks(events, HALL_FORBIDDEN), token
        calls = Api(client, tokens[token]).get("/board").json["calls"]
        assert calls and not leaks(calls, HALL_FORBIDDEN), token
    preferential = [event["data"]["ticket"]["preferential"] for event in
                    Api(client, tokens["display"]).get("/events?after=0&limit=1000").json["events"]
                    if event["type"] == "ticket.called" and event["data"]["ticket"]["code"].startswith("A")]
    assert True in preferential and False in preferential  # preferential or not, never which class

    # Staff not assigned to the discreet service: personal data of ORI/PEN, none of VIC.
    staff_events = Api(client, tokens["ana"]).get("/events?after=0&limit=1000").json["events"]
    for event in staff_events:
        ticket = event["data"].get("ticket")
        if isinstance(ticket, dict) and ticket["service"] == "VIC":
            assert not leaks(event, ("document", "notes", "case_ref", "comment")), event["type"]
    assert any(event["data"].get("ticket", {}).get("name") == NAME for event in staff_events
               if isinstance(event["data"].get("ticket"), dict))  # the normal tickets' data is there
    # The supervisor sees everything, the discreet ticket's attention included.
    supervisor = Api(client, tokens["sofia"]).get("/events?after=0&limit=1000").json["events"]
    finished = next(event for event in supervisor if event["type"] == "ticket.finished")
    assert finished["data"]["attention"]["notes"] == NOTE and finished["data"]["ticket"]["name"] == NAME


def test_staff_assigned_to_a_discreet_service_see_its_data(app, tokens, every_event):
    app.extensions["turnero"].accounts.set_services("beto", ["VIC"])
    beto = Api(app.test_client(), tokens["beto"])
    ticket = beto.get(f"/tickets/{every_event['vic']['id']}").json
    assert ticket["name"] == NAME and ticket["document"]["number"] == DOCUMENT
    ana = Api(app.test_client(), tokens["ana"]).get(f"/tickets/{every_event['vic']['id']}").json
    assert "name" not in ana and "document" not in ana
    assert not leaks(ana["history"], ("document", "notes", "case_ref"))


def test_page_data_of_each_audience(app, tokens, every_event):
    client = app.test_client()
    public = client.get(f"/api/v1/public/tickets/{every_event['ori']['public_id']}").json
    assert not leaks(public, HALL_FORBIDDEN + ("id",))
    kiosk = Api(client, tokens["kiosk"])
    issued = kiosk.post("/tickets", {"service": "ORI", "document": {"type": "DNI", "number": DOCUMENT}}).json
    assert not leaks(issued, ("document", "name", "staff", "appointment"))
    assert issued["public_id"] and issued["code"]  # the person's own ticket: its QR and code
    for path in ("/queue", "/counters", "/tickets?status=done,cancelled,expired,no_show,transferred"):
        body = Api(client, tokens["ana"]).get(path).json
        vic = [value for _, _, value in walk(body) if isinstance(value, dict) and value.get("service") == "VIC"
               and "public_id" in value]
        assert all("name" not in ticket and "document" not in ticket for ticket in vic), path
    overview = Api(client, tokens["sofia"]).get("/supervision").json
    assert NAME in json.dumps(overview, ensure_ascii=False)  # supervisors see the people of today's tickets


def test_reads_of_personal_data_are_recorded(app, tokens, every_event):
    store = app.extensions["turnero"].store
    before = {row["id"] for row in store.read("SELECT id FROM audit_log")}
    client = app.test_client()
    Api(client, tokens["sofia"]).get(f"/tickets/{every_event['vic']['id']}")
    Api(client, tokens["ana"]).get("/events?after=0&limit=1000")
    Api(client, tokens["ana"]).get("/board")  # no personal data: not a read to record
    rows = [row for row in audit.entries(store, 500) if row["id"] not in before]
    reads = {(row["actor"], row["action"].split("?")[0]): row for row in rows}
    single = reads[("sofia", f"read GET /api/v1/tickets/{every_event['vic']['id']}")]
    assert single["details"]["tickets"] == [every_event["vic"]["id"]] and single["at"]
    feed = reads[("ana", "read GET /api/v1/events")]
    assert every_event["ori"]["id"] in feed["details"]["tickets"]
    assert every_event["vic"]["id"] not in feed["details"]["tickets"]  # not shown to her, not recorded
    assert not any(action.endswith("/board") for _, action in reads)
    assert audit.verify(store)[0]


def test_kiosk_appointment_lookup_is_neutral_bounded_and_recorded(app, tokens):
    box = app.extensions["turnero"]
    starts = box.engine.clock.rfc3339(box.engine.clock() + 3600)
    box.engine.upsert_appointment({"id": "cita-vic", "service": "VIC", "starts_at": starts,
                                   "document": {"type": "DNI", "number": DOCUMENT}, "status": "booked"})
    kiosk = Api(app.test_client(), tokens["kiosk"])
    found = kiosk.get(f"/appointments?document={DOCUMENT}").json["appointments"]
    assert [item["id"] for item in found] == ["cita-vic"]
    assert set(found[0]) == {"id", "starts_at", "service_label"} and "VIC" not in repr(found)
    assert "víctima" not in found[0]["service_label"].lower()
    limit = box.settings.kiosk["lookups_per_minute"]
    statuses = [kiosk.get(f"/appointments?document={number:08d}").status_code for number in range(limit)]
    assert statuses[-1] == 429 and statuses.count(200) == limit - 1
    staff = Api(app.test_client(), tokens["ana"]).get(f"/appointments?document={DOCUMENT}")
    assert staff.status_code == 200  # staff are not throttled
    lookups = [row for row in audit.entries(box.store, 100) if row["action"].startswith("read GET /api/v1/appointments")]
    assert len(lookups) == limit + 1  # every answered lookup (the kiosk's and the staff member's)
    assert any(row["actor"] == "kiosco-1" and row["details"]["found"] == ["cita-vic"] for row in lookups)
    assert DOCUMENT not in repr(lookups)  # the number looked up is not kept in the trail


def test_an_admin_assigns_a_discreet_service_from_the_page_and_the_cli(app, tokens, data_dir):
    import subprocess
    import sys

    from tests.test_admin import login

    client = app.test_client()
    csrf = login(client, "root")
    page = client.get("/admin").get_data(as_text=True)
    assert 'action="/admin/users/beto/services"' in page
    response = client.post("/admin/users/beto/services", data={"services": ["VIC", "ORI"], "csrf_token": csrf})
    assert response.status_code == 302
    users = {user["username"]: user for user in app.extensions["turnero"].accounts.users()}
    assert users["beto"]["services"] == ["VIC"]  # only discreet services are an assignment
    cli = subprocess.run([sys.executable, "-m", "turnero.cli", "user", "add", "lucia", "--role", "staff",
                          "--services", "VIC", "--password-stdin", "--data-dir", str(data_dir)],
                         input="clave larga 1\n", capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    wrong = subprocess.run([sys.executable, "-m", "turnero.cli", "user", "add", "luis", "--role", "staff",
                            "--services", "ORI", "--password-stdin", "--data-dir", str(data_dir)],
                           input="clave larga 1\n", capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1 and "not a discreet service" in wrong.stderr
