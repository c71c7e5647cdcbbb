"""The reference central receiver on its own: tokens, ingest exactly once, the documented errors,
appointments with a cursor, KPI pages and the CLI. Each test runs on SQLite and, when a real
PostgreSQL server can be started from Debian's packages, on PostgreSQL too."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from central import create_app
from central.db import Database
from central.pgtemp import TempPostgres, unavailable_reason
from central.service import add_sede

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


def test_kpi_pages_show_what_was_received(central, token):
    client = central.test_client()
    attention = {"ticket_id": "t2", "service": "ORI", "counter": "v1", "staff": "ana", "priority": None,
                 "outcome": "resolved", "wait_seconds": 600.0, "service_seconds": 300.0, "notes": "x"}
    no_show = {**attention, "ticket_id": "t3", "outcome": "no_show", "wait_seconds": 60.0, "service_seconds": None}
    events = [event(1), event(2), event(3), event(4, "ticket.finished", attention=attention),
              event(5, "ticket.no_show", attention=no_show),
              event(6, "ticket.transferred", service="PEN", **{"from": {"service": "ORI"}})]
    push(client, token, events)
    kpis = client.get(f"/api/v1/sedes/{SEDE}/kpis?from=2026-11-25").get_json()
    totals = kpis["totals"]
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

