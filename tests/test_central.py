"""The reference central receiver on its own: tokens, ingest exactly once per epoch, the audit
anchor, the documented errors (malformed input is a 4xx, never a 500), appointments with a cursor,
KPI pages behind a credential, the schema upgrade and the CLI. Each test runs on SQLite and, when
a real PostgreSQL server can be started from Debian's packages, on PostgreSQL too."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid

import pytest
import requests

from central import create_app
from central.db import SCHEMA_V1, STEPS, Database
from central.pgtemp import TempPostgres, unavailable_reason
from central.service import add_sede, add_viewer, token_hash
from central.testing import CentralServer

SEDE = "LIM-01"


@pytest.fixture(scope="session")
def postgres_server():
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = TempPostgres()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start is a reason to skip, stated
        server.stop()
        pytest.skip(f"PostgreSQL tests skipped: could not start a server: {exc}")
    yield server
    server.stop()


def fresh_postgres_url(server) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    return fresh_postgres_url(request.getfixturevalue("postgres_server"))


@pytest.fixture
def central(database_url):
    app = create_app(database_url, {"TESTING": True})
    yield app
    app.extensions["central_db"].close()


@pytest.fixture
def token(central):
    return add_sede(central.extensions["central_db"], SEDE, "Sede Lima Centro")


def event(seq, event_type="ticket.issued", service="ORI", at="2026-11-25T10:00:00.000-05:00", **data):
    body = {"ticket": {"id": f"t{seq}", "service": service, "document": {"type": "DNI", "number": "12345678"}}}
    body.update(data)
    return {"seq": seq, "id": f"ev-{seq}", "type": event_type, "at": at, "data": body}


def push(client, token, events, sede=SEDE, body_sede=None):
    return client.post(f"/api/v1/sedes/{sede}/events", json={"sede": body_sede or sede, "events": events},
                       headers={"Authorization": f"Bearer {token}"} if token else {})


def stored(app, sede=SEDE):
    return app.extensions["central_db"].all("SELECT seq, id FROM events WHERE sede = ? ORDER BY seq", (sede,))


def test_contiguous_batches_are_stored_once_and_acknowledged(central, token):
    client = central.test_client()
    response = push(client, token, [event(s) for s in range(1, 4)])
    assert response.status_code == 200 and response.get_json() == {"acked_seq": 3}
    again = push(client, token, [event(s) for s in range(1, 4)])  # a re-send after a lost answer
    assert again.get_json() == {"acked_seq": 3}
    overlap = push(client, token, [event(s) for s in range(2, 6)])
    assert overlap.get_json() == {"acked_seq": 5}
    assert stored(central) == [(s, f"ev-{s}") for s in range(1, 6)]


def test_a_gap_is_reported_and_filled(central, token):
    client = central.test_client()
    assert push(client, token, [event(1), event(2)]).get_json() == {"acked_seq": 2}
    # Events past a gap are kept, but acked_seq stays below the gap so the box re-sends from there.
    assert push(client, token, [event(5), event(6)]).get_json() == {"acked_seq": 2}
    assert push(client, token, [event(3), event(4)]).get_json() == {"acked_seq": 6}
    assert [row[0] for row in stored(central)] == [1, 2, 3, 4, 5, 6]


def test_empty_batch_answers_the_current_point(central, token):
    client = central.test_client()
    push(client, token, [event(1)])
    assert push(client, token, []).get_json() == {"acked_seq": 1}


@pytest.mark.parametrize("events, status, code", [
    ([event(1), event(3)], 422, "non_contiguous_batch"),
    ([event(2), event(1)], 422, "non_contiguous_batch"),
    ([event(1), event(1)], 422, "non_contiguous_batch"),
    ([{**event(1), "at": "2026-11-25T10:00:00"}], 422, "invalid_event"),
    ([{**event(1), "seq": "1"}], 422, "invalid_event"),
    ([{**event(1), "data": "x"}], 422, "invalid_event"),
    ([event(s) for s in range(1, 502)], 413, "batch_too_large"),
])
def test_bad_batches_get_documented_errors_and_store_nothing(central, token, events, status, code):
    response = push(central.test_client(), token, events)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert stored(central) == []


def test_oversized_body_is_413_json(database_url):
    app = create_app(database_url, {"MAX_CONTENT_LENGTH": 2048})
    token = add_sede(app.extensions["central_db"], SEDE)
    response = push(app.test_client(), token, [event(s) for s in range(1, 40)])
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    app.extensions["central_db"].close()


def test_credentials_and_sede_are_checked(central, token):
    client = central.test_client()
    other = add_sede(central.extensions["central_db"], "CUS-01")
    cases = [
        (push(client, None, [event(1)]), 401, "missing_token"),
        (push(client, "not-a-token", [event(1)]), 401, "invalid_token"),
        (push(client, other, [event(1)]), 403, "wrong_sede"),
        (push(client, token, [event(1)], sede="NOPE"), 404, "unknown_sede"),
        (push(client, token, [event(1)], body_sede="CUS-01"), 422, "sede_mismatch"),
        (client.post(f"/api/v1/sedes/{SEDE}/events", data="{not json", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"}), 400, "bad_request"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert stored(central) == []


def test_same_seq_with_another_id_is_a_conflict(central, token):
    client = central.test_client()
    push(client, token, [event(1), event(2)])
    replaced = {**event(2), "id": "ev-from-a-restored-backup"}
    response = push(client, token, [replaced, event(3)])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "seq_conflict"
    assert stored(central) == [(1, "ev-1"), (2, "ev-2")]


def test_token_is_stored_hashed_and_can_be_rotated(central, token):
    db = central.extensions["central_db"]
    assert token not in json.dumps(db.all("SELECT * FROM sedes"))
    from central.service import rotate_token

    new = rotate_token(db, SEDE)
    client = central.test_client()
    assert push(client, token, [event(1)]).status_code == 401
    assert push(client, new, [event(1)]).get_json() == {"acked_seq": 1}


def test_appointments_come_in_pages_after_a_cursor(central, token):
    from central import service

    db = central.extensions["central_db"]
    service.APPOINTMENT_PAGE, saved = 2, service.APPOINTMENT_PAGE
    try:
        service.import_appointments(db, SEDE, [
            {"id": "c1", "service": "ORI", "starts_at": "2026-11-25T09:00:00-05:00",
             "document": {"type": "DNI", "number": "12345678"}, "name": "Rosa Quispe"},
            {"id": "c2", "service": "ORI", "starts_at": "2026-11-25T09:30:00-05:00"},
            {"id": "c3", "service": "PEN", "starts_at": "2026-11-25T10:00:00-05:00"},
        ])
        client = central.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        first = client.get(f"/api/v1/sedes/{SEDE}/appointments", headers=auth).get_json()
        assert [a["id"] for a in first["appointments"]] == ["c1", "c2"]
        assert first["appointments"][0]["document"] == {"type": "DNI", "number": "12345678"}
        second = client.get(f"/api/v1/sedes/{SEDE}/appointments?since={first['cursor']}", headers=auth).get_json()
        assert [a["id"] for a in second["appointments"]] == ["c3"]
        service.import_appointments(db, SEDE, [{"id": "c1", "service": "ORI", "status": "cancelled",
                                                "starts_at": "2026-11-25T09:00:00-05:00"}])
        third = client.get(f"/api/v1/sedes/{SEDE}/appointments?since={second['cursor']}", headers=auth).get_json()
        assert [(a["id"], a["status"]) for a in third["appointments"]] == [("c1", "cancelled")]
        bad = client.get(f"/api/v1/sedes/{SEDE}/appointments?since=zzz", headers=auth)
        assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_cursor"
        assert client.get("/api/v1/sedes/LIM-01/appointments").status_code == 401
    finally:
        service.APPOINTMENT_PAGE = saved


def test_invalid_appointments_are_refused_whole(central, token):
    from central.service import CentralError, import_appointments

    with pytest.raises(CentralError) as error:
        import_appointments(central.extensions["central_db"], SEDE, [
            {"id": "ok", "service": "ORI", "starts_at": "2026-11-25T09:00:00-05:00"},
            {"id": "bad", "service": "ORI", "starts_at": "mañana"}])
    assert error.value.code == "invalid_appointment"
    assert central.extensions["central_db"].all("SELECT id FROM appointments") == []


def basic(name, secret) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


def test_kpi_pages_show_what_was_received(central, token):
    client = central.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = basic("auditora", add_viewer(central.extensions["central_db"],
                                                                             "auditora"))["Authorization"]
    attention = {"ticket_id": "t2", "service": "ORI", "counter": "v1", "staff": "ana", "priority": None,
                 "outcome": "resolved", "wait_seconds": 600.0, "service_seconds": 300.0, "notes": "x"}
    no_show = {**attention, "ticket_id": "t3", "outcome": "no_show", "wait_seconds": 60.0, "service_seconds": None}
    events = [event(1), event(2), event(3), event(4, "ticket.finished", attention=attention),
              event(5, "ticket.no_show", attention=no_show),
              event(6, "ticket.transferred", service="PEN", **{"from": {"service": "ORI"}})]
    push(client, token, events)
    kpis = client.get(f"/api/v1/sedes/{SEDE}/kpis?from=2026-11-25").get_json()
    totals = kpis["totals"]
    assert totals == client.get(f"/api/v1/sedes/{SEDE}/kpis?from=2026-11-25", headers={
        "Authorization": f"Bearer {token}"}).get_json()["totals"]  # the sede's own token reads its figures
    assert (totals["issued"], totals["served"], totals["no_shows"], totals["transferred"]) == (3, 1, 1, 1)
    assert totals["wait_seconds"]["median"] == 600.0 and totals["within_target_share"] == 1.0
    page = client.get(f"/sedes/{SEDE}?from=2026-11-25")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sede Lima Centro" in html and "10:00" in html  # the median wait, min:s
    assert "12345678" not in html  # pages carry no personal data
    overview = client.get("/?from=2026-11-25&to=2026-11-25").get_data(as_text=True)
    assert "Resumen nacional" in overview and f"/sedes/{SEDE}" in overview
    missing = client.get("/sedes/NOPE")
    assert missing.status_code == 404 and "text/html" in missing.content_type
    assert client.get("/?from=2026-13-01").status_code == 400


def test_cli_adds_sedes_and_imports_appointments(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    run = [sys.executable, "-m", "central.cli"]
    added = subprocess.run([*run, "sede", "add", "AYA-02", "--name", "Ayacucho", "--database-url", url],
                           capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    again = subprocess.run([*run, "sede", "add", "AYA-02", "--database-url", url], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 1 and "sede_exists" in again.stderr and again.stderr.count("\n") == 1
    file = tmp_path / "citas.json"
    file.write_text(json.dumps({"appointments": [
        {"id": "A1", "service": "ORI", "starts_at": "2026-11-26T09:00:00-05:00"}]}), encoding="utf-8")
    imported = subprocess.run([*run, "appointments", "import", str(file), "--sede", "AYA-02", "--database-url", url],
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    db = Database(url)
    assert db.all("SELECT id, status FROM appointments") == [("A1", "booked")]
    db.close()
    listed = subprocess.run([*run, "sede", "list", "--database-url", url], capture_output=True, text=True, timeout=60)
    assert "AYA-02" in listed.stdout and token not in listed.stdout


def test_unknown_database_url_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "central.cli", "sede", "list", "--database-url", "mysql://x"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "unsupported database URL" in result.stderr



# --------------------------------------------------------------------------- epochs, anchor, credentials
# Against a real server on 127.0.0.1 (Werkzeug, threaded), on SQLite and PostgreSQL.

EPOCH_A = "0f0e0d0c-0b0a-4988-8776-655443322110"
EPOCH_B = "9c1f6e2a-4b7d-4e8f-a0b1-c2d3e4f50617"


@pytest.fixture
def server(database_url):
    with CentralServer(database_url) as running:
        running.token = add_sede(running.db, SEDE, "Sede Lima Centro")
        yield running


def post(server, body, token=None, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(f"{server.url}/api/v1/sedes/{SEDE}/events", data=data, timeout=30, headers={
        "Authorization": f"Bearer {token or server.token}", "Content-Type": "application/json"})


def epoch_body(epoch, events, head=None):
    body = {"sede": SEDE, "epoch": epoch, "events": events}
    if head is not None:
        body["audit_head"] = head
    return body


def held(server, epoch=None):
    if epoch is None:
        return server.db.all("SELECT epoch, seq, id FROM events WHERE sede = ? ORDER BY epoch, seq", (SEDE,))
    return server.db.all("SELECT seq, id FROM events WHERE sede = ? AND epoch = ? ORDER BY seq", (SEDE, epoch))


def renamed(events, prefix):
    return [{**e, "id": f"{prefix}-{e['seq']}"} for e in events]


def test_two_epochs_keep_their_own_seqs_and_never_overwrite_each_other(server):
    """A restored box starts seq 1 again with other events: both histories are kept, each once."""
    first = [event(s) for s in range(1, 4)]
    assert post(server, epoch_body(EPOCH_A, first)).json() == {"acked_seq": 3}
    again = renamed([event(s) for s in range(1, 3)], "restored")
    assert post(server, epoch_body(EPOCH_B, again)).json() == {"acked_seq": 2}  # its own acked_seq
    assert post(server, epoch_body(EPOCH_A, [event(4)])).json() == {"acked_seq": 4}
    # Within one epoch a seq is still held once: another id under it is refused and nothing changes.
    conflict = post(server, epoch_body(EPOCH_B, renamed([event(2), event(3)], "other")))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "seq_conflict"
    assert held(server, EPOCH_A) == [(s, f"ev-{s}") for s in range(1, 5)]
    assert held(server, EPOCH_B) == [(1, "restored-1"), (2, "restored-2")]
    # Epochs are normalized (a UUID in capitals is the same epoch); a push without one is legacy.
    assert post(server, epoch_body(EPOCH_A.upper(), [event(4)])).json() == {"acked_seq": 4}
    assert post(server, {"sede": SEDE, "events": [event(1)]}).json() == {"acked_seq": 1}
    assert {row[0] for row in held(server)} == {EPOCH_A, EPOCH_B, "legacy"}
    received, epochs = server.db.one("SELECT events_received, (SELECT COUNT(*) FROM epochs) FROM sedes")
    assert (received, epochs) == (7, 3)


def kpi_events(prefix, seqs, ticket_ids):
    """ticket.issued for each ticket id, then a finished attention for the first one."""
    out = []
    for seq, ticket in zip(seqs, ticket_ids):
        out.append({**event(seq), "id": f"{prefix}-{ticket}-issued", "data": {"ticket": {"id": ticket, "service": "ORI"}}})
    attention = {"ticket_id": ticket_ids[0], "service": "ORI", "counter": "v1", "staff": "ana", "priority": None,
                 "outcome": "resolved", "wait_seconds": 300.0, "service_seconds": 120.0}
    out.append({**event(seqs[-1] + 1, "ticket.finished", attention=attention), "id": f"{prefix}-{ticket_ids[0]}-done"})
    return out


def test_kpis_count_each_event_once_across_epochs(server):
    viewer = basic("auditora", add_viewer(server.db, "auditora"))
    before = kpi_events("x", [1, 2], ["t1", "t2"])  # issued t1, t2; t1 served
    assert post(server, epoch_body(EPOCH_A, before)).json() == {"acked_seq": 3}
    after_backup = [{**event(4), "id": "x-t3-issued", "data": {"ticket": {"id": "t3", "service": "ORI"}}}]
    post(server, epoch_body(EPOCH_A, after_backup))
    # Restored from a backup taken at seq 3: the same three events again (same ids), then its own new one.
    restored = before + [{**event(4), "id": "y-t4-issued", "data": {"ticket": {"id": "t4", "service": "ORI"}}}]
    assert post(server, epoch_body(EPOCH_B, restored)).json() == {"acked_seq": 4}
    # An old box's legacy push of the same events too.
    post(server, {"sede": SEDE, "events": before})
    kpis = requests.get(f"{server.url}/api/v1/sedes/{SEDE}/kpis?from=2026-11-25", headers=viewer, timeout=30).json()
    totals = kpis["totals"]
    assert (totals["issued"], totals["served"]) == (4, 1)  # t1..t4 once each; t1's attention once
    assert kpis["counters"][0]["served"] == 1
    national = requests.get(f"{server.url}/?from=2026-11-25", headers=viewer, timeout=30)
    assert national.status_code == 200


def test_the_audit_anchor_is_kept_per_epoch_and_may_not_go_back(server):
    h = {n: f"{n:064x}" for n in range(1, 20)}
    assert post(server, epoch_body(EPOCH_A, [event(1), event(2)], {"row": 5, "hash": h[5]})).status_code == 200
    anchor = requests.get(f"{server.url}/api/v1/sedes/{SEDE}/anchor", timeout=30,
                          headers={"Authorization": f"Bearer {server.token}"}).json()
    (only,) = anchor["epochs"]
    assert (only["epoch"], only["acked_seq"], only["audit_head"]) == (EPOCH_A, 2, {"row": 5, "hash": h[5]})
    # A late older batch (two processes pushing at once) with a lower head and no newer events: no change.
    assert post(server, epoch_body(EPOCH_A, [event(1)], {"row": 4, "hash": h[4]})).status_code == 200
    # Newer events with a head below the anchor: rows were removed. Nothing of the batch is stored.
    back = post(server, epoch_body(EPOCH_A, [event(3)], {"row": 4, "hash": h[4]}))
    assert back.status_code == 409 and back.json()["error"]["code"] == "audit_conflict"
    # The anchored row with another hash: the chain was rewritten.
    rewritten = post(server, epoch_body(EPOCH_A, [event(3)], {"row": 5, "hash": h[6]}))
    assert rewritten.status_code == 409 and rewritten.json()["error"]["code"] == "audit_conflict"
    assert held(server, EPOCH_A) == [(1, "ev-1"), (2, "ev-2")]
    assert post(server, epoch_body(EPOCH_A, [event(3)], {"row": 9, "hash": h[9]})).json() == {"acked_seq": 3}
    # Another epoch (a restored database) has its own anchor, from scratch.
    assert post(server, epoch_body(EPOCH_B, [event(1)], {"row": 2, "hash": h[2]})).status_code == 200
    epochs = {e["epoch"]: e["audit_head"]["row"] for e in requests.get(
        f"{server.url}/api/v1/sedes/{SEDE}/anchor", headers={"Authorization": f"Bearer {server.token}"},
        timeout=30).json()["epochs"]}
    assert epochs == {EPOCH_A: 9, EPOCH_B: 2}
    assert requests.get(f"{server.url}/api/v1/sedes/{SEDE}/anchor", timeout=30).status_code == 401


DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def raw_event(**changes) -> dict:
    return {**event(1), **changes}


MALFORMED = {
    "seq at 2^63": {"events": [raw_event(seq=2 ** 63)]},
    "seq far beyond": {"events": [raw_event(seq=10 ** 30)]},
    "id with a lone surrogate": '{"sede":"LIM-01","events":[{"seq":1,"id":"\\ud800","type":"t",'
                                '"at":"2026-11-25T10:00:00-05:00","data":{}}]}',
    "data with a lone surrogate": '{"sede":"LIM-01","events":[{"seq":1,"id":"a","type":"t",'
                                  '"at":"2026-11-25T10:00:00-05:00","data":{"x":["\\udc00"]}}]}',
    "key with a lone surrogate": '{"sede":"LIM-01","events":[{"seq":1,"id":"a","type":"t",'
                                 '"at":"2026-11-25T10:00:00-05:00","data":{"\\ud83d":1}}]}',
    "body nested 100000 deep": DEEP,
    "data nested 40 deep": '{"sede":"LIM-01","events":[{"seq":1,"id":"a","type":"t",'
                           '"at":"2026-11-25T10:00:00-05:00","data":' + '{"a":' * 40 + "1" + "}" * 40 + "}]}",
    "NUL in the id": {"events": [raw_event(id="a\u0000b")]},
    "object as the id": {"events": [raw_event(id={"x": 1})]},
    "object as the type": {"events": [raw_event(type=["x"])]},
    "object as the ticket's service": {"events": [raw_event(data={"ticket": {"service": {"x": 1}}})]},
    "object as an attention's counter": {"events": [raw_event(data={"attention": {
        "outcome": "resolved", "counter": {"id": "v1"}}})]},
    "object as an attention's wait": {"events": [raw_event(data={"attention": {"outcome": "x", "wait_seconds": {}}})]},
    "an integer beyond any float as a wait": {"events": [raw_event(data={"attention": {
        "outcome": "x", "wait_seconds": 10 ** 400}})]},
    "basic-format time": {"events": [raw_event(at="20261204T101500-0500")]},
    "offset without a colon": {"events": [raw_event(at="2026-12-04T10:15:00-0500")]},
    "date only": {"events": [raw_event(at="2026-12-04")]},
    "week date": {"events": [raw_event(at="2026-W49-5T10:15:00-05:00")]},
    "no offset": {"events": [raw_event(at="2026-12-04T10:15:00")]},
    "object as the epoch": {"epoch": {"id": EPOCH_A}, "events": [event(1)]},
    "not a UUID as the epoch": {"epoch": "legacy", "events": [event(1)]},
    "object as the audit row": {"epoch": EPOCH_A, "audit_head": {"row": {}, "hash": "0" * 64}, "events": [event(1)]},
    "audit row at 2^64": {"epoch": EPOCH_A, "audit_head": {"row": 2 ** 64, "hash": "0" * 64}, "events": [event(1)]},
    "audit head a list": {"epoch": EPOCH_A, "audit_head": [1, "0" * 64], "events": [event(1)]},
    "object as the sede": {"sede": {"code": SEDE}, "events": [event(1)]},
    "events an object": {"events": {"seq": 1}},
    "not UTF-8": b'{"sede":"LIM-01","events":[{"seq":1,"id":"\xff\xfe"}]}',
}


def test_malformed_authenticated_input_is_a_4xx_never_a_500(server):
    for name, body in MALFORMED.items():
        if isinstance(body, dict):
            response = post(server, {"sede": SEDE, **body})
        else:
            response = post(server, None, raw=body if isinstance(body, bytes) else body.encode())
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:200])
        assert response.json()["error"]["code"], name
    assert held(server) == []
    # An RFC 3339 extended time with an offset (Z, fractions, lower-case t/z) is fine; the day is the sede's.
    ok = [raw_event(seq=1, at="2026-12-04T10:15:00Z"), raw_event(seq=2, id="b", at="2026-12-04t10:15:00.123456789z"),
          raw_event(seq=3, id="c", at="2026-12-04T10:15:00.5+05:30")]
    assert post(server, {"sede": SEDE, "events": ok}).json() == {"acked_seq": 3}
    assert post(server, {"sede": SEDE, "events": [raw_event(seq=2 ** 63 - 1, id="far")]}).json() == {"acked_seq": 3}
    auth = {"Authorization": f"Bearer {server.token}"}
    for cursor in ("99999999999999999999", "²", "-1", "1e3"):
        answer = requests.get(f"{server.url}/api/v1/sedes/{SEDE}/appointments", params={"since": cursor},
                              headers=auth, timeout=30)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_cursor", cursor


def test_appointment_times_must_be_rfc3339_extended(server):
    from central.service import CentralError, import_appointments

    for starts in ("20261204T101500-0500", "2026-12-04T10:15:00", "2026-12-04T10:15:00-0500"):
        with pytest.raises(CentralError) as error:
            import_appointments(server.db, SEDE, [{"id": "c1", "service": "ORI", "starts_at": starts}])
        assert error.value.code == "invalid_appointment", starts
    assert import_appointments(server.db, SEDE, [{"id": "c1", "service": "ORI",
                                                  "starts_at": "2026-12-04T10:15:00-05:00"}]) == 1


def test_kpi_pages_and_json_need_a_credential(server):
    other = add_sede(server.db, "CUS-01", "Cusco")
    secret = add_viewer(server.db, "auditora")
    post(server, {"sede": SEDE, "events": [event(1)]})
    kpis = f"{server.url}/api/v1/sedes/{SEDE}/kpis?from=2026-11-25"
    pages = [f"{server.url}/?from=2026-11-25", f"{server.url}/sedes/{SEDE}?from=2026-11-25"]
    for url in [kpis, *pages]:
        bare = requests.get(url, timeout=30)
        assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Basic"), url
        assert "Sede Lima Centro" not in bare.text
        for wrong in (basic("auditora", "no-es"), basic("nadie", secret), {"Authorization": "Basic %%%"},
                      {"Authorization": "Bearer no-es-un-token"}):
            assert requests.get(url, headers=wrong, timeout=30).status_code == 401, (url, wrong)
        assert requests.get(url, headers=basic("auditora", secret), timeout=30).status_code == 200, url
        assert requests.get(url, headers={"Authorization": f"Bearer {secret}"}, timeout=30).status_code == 200
    assert requests.get(kpis, headers={"Authorization": f"Bearer {server.token}"}, timeout=30).json()["totals"][
        "issued"] == 1  # a sede reads its own figures
    assert requests.get(kpis, headers={"Authorization": f"Bearer {other}"}, timeout=30).status_code == 403
    for url in pages:  # a box's token is no key to the pages
        assert requests.get(url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30).status_code == 401
    unknown = requests.get(f"{server.url}/api/v1/sedes/NOPE/kpis", timeout=30)
    assert unknown.status_code == 401  # which sedes exist is not told to strangers either
    assert requests.get(f"{server.url}/healthz", timeout=30).json() == {"status": "ok"}
    from central.service import remove_viewer

    remove_viewer(server.db, "auditora")
    assert requests.get(kpis, headers=basic("auditora", secret), timeout=30).status_code == 401


def test_a_database_of_the_previous_version_is_upgraded_in_place(database_url):
    """A central that ran the earlier schema (events per (sede, seq), no versioning) is upgraded
    when it starts: what it held becomes the legacy epoch, old boxes go on where they were, and
    new boxes push per epoch."""
    old = Database(database_url)
    with old.transaction() as tx:
        for statement in SCHEMA_V1:
            tx.execute(statement)
        tx.execute("INSERT INTO sedes (code, name, token_hash, created_at, acked_seq, events_received, "
                   "last_received_at) VALUES (?, ?, ?, ?, 2, 2, ?)", (SEDE, "Lima", token_hash("tok-lima"),
                                                                      "2026-11-25T15:00:00.000+00:00",
                                                                      "2026-11-25T15:00:00.000+00:00"))
        finished = {"ticket": {"id": "t1", "service": "ORI"}, "attention": {
            "ticket_id": "t1", "service": "ORI", "counter": "v1", "outcome": "resolved", "wait_seconds": 60,
            "service_seconds": 30}}
        for seq, kind, data in ((1, "ticket.issued", {"ticket": {"id": "t1", "service": "ORI"}}),
                                (2, "ticket.finished", finished)):
            tx.execute("INSERT INTO events (sede, seq, id, type, at, day, service, data, received_at) VALUES "
                       "(?, ?, ?, ?, '2026-11-25T10:00:00.000-05:00', '2026-11-25', 'ORI', ?, 'x')",
                       (SEDE, seq, f"ev-{seq}", kind, json.dumps(data)))
        tx.execute("INSERT INTO attentions (sede, seq, ticket_id, service, counter, staff, priority, outcome, "
                   "wait_seconds, service_seconds, day) VALUES (?, 2, 't1', 'ORI', 'v1', 'ana', NULL, 'resolved', "
                   "60, 30, '2026-11-25')", (SEDE,))
    old.close()
    with CentralServer(database_url) as running:
        assert running.db.schema_version() == len(STEPS)
        auth = {"Authorization": "Bearer tok-lima", "Content-Type": "application/json"}
        url = f"{running.url}/api/v1/sedes/{SEDE}/events"
        legacy = requests.post(url, data=json.dumps({"sede": SEDE, "events": [event(3)]}), headers=auth, timeout=30)
        assert legacy.json() == {"acked_seq": 3}  # the old box goes on from where it was
        fresh = requests.post(url, data=json.dumps(epoch_body(EPOCH_A, [event(1)])), headers=auth, timeout=30)
        assert fresh.json() == {"acked_seq": 1}
        assert running.db.all("SELECT epoch, seq, id FROM events ORDER BY epoch, seq") == [
            (EPOCH_A, 1, "ev-1"), ("legacy", 1, "ev-1"), ("legacy", 2, "ev-2"), ("legacy", 3, "ev-3")]
        assert running.db.all("SELECT epoch, seq, event_id, outcome FROM attentions") == [
            ("legacy", 2, "ev-2", "resolved")]
        kpis = requests.get(f"{running.url}/api/v1/sedes/{SEDE}/kpis?from=2026-11-25", timeout=30,
                            headers={"Authorization": "Bearer tok-lima"}).json()["totals"]
        # What was held is summarised by the upgrade; ev-1 under the new epoch is the same event.
        assert (kpis["issued"], kpis["served"]) == (2, 1)
    again = Database(database_url)
    again.create_schema()  # a second start changes nothing
    assert again.schema_version() == len(STEPS) and again.one("SELECT COUNT(*) FROM events")[0] == 4
    again.close()


def test_cli_registers_viewers_and_lists_epochs(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    run = [sys.executable, "-m", "central.cli"]

    def central_cli(*args):
        return subprocess.run([*run, *args, "--database-url", url], capture_output=True, text=True, timeout=60)

    added = central_cli("viewer", "add", "auditora")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip().splitlines()[-1]
    assert central_cli("viewer", "add", "auditora").returncode == 1
    listed = central_cli("viewer", "list")
    assert "auditora" in listed.stdout and secret not in listed.stdout
    db = Database(url)
    assert db.one("SELECT token_hash FROM viewers")[0] == token_hash(secret)
    db.close()
    assert central_cli("sede", "add", "AYA-02").returncode == 0
    assert "epochs=0" in central_cli("sede", "list").stdout
    assert central_cli("viewer", "remove", "auditora").returncode == 0
    assert central_cli("viewer", "remove", "auditora").returncode == 1
