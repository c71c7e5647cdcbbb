"""The JSON API: shapes, roles, and every error path (status, JSON error code, nothing stored)."""
import re

import pytest
import requests

from tests.conftest import PASSWORD, Api, error_code


def count(app, table):
    return app.extensions["turnero"].store.read_one(f"SELECT COUNT(*) FROM {table}")[0]


def test_login_shape_and_bad_password(app, tokens):
    client = app.test_client()
    ok = client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert ok.status_code == 200
    assert set(ok.json) == {"token", "expires_at", "user"}
    assert ok.json["user"] == {"username": "ana", "role": "staff"}
    assert ok.json["expires_at"].endswith("-05:00")
    bad = client.post("/api/v1/auth/login", json={"username": "ana", "password": "wrong"})
    assert bad.status_code == 401 and error_code(bad) == "invalid_credentials"
    unknown = client.post("/api/v1/auth/login", json={"username": "nadie", "password": "x"})
    assert unknown.status_code == 401 and error_code(unknown) == "invalid_credentials"


def test_login_tokens_expire(app, tokens, clock):
    api = app.test_client()
    headers = {"Authorization": f"Bearer {tokens['ana']}"}
    assert api.get("/api/v1/queue", headers=headers).status_code == 200
    clock.advance(13 * 3600)
    expired = api.get("/api/v1/queue", headers=headers)
    assert expired.status_code == 401 and error_code(expired) == "unauthorized"


def test_issue_ticket_shape(api, tokens):
    response = api.as_(tokens["kiosk"]).post("/tickets", {
        "service": "ORI", "priority": "gestante", "language": "qu",
        "document": {"type": "DNI", "number": "12345678", "check": "1"}})
    assert response.status_code == 201
    ticket = response.json
    for key in ("id", "public_id", "code", "number", "service", "status", "priority", "channel", "language",
                "position", "eta_minutes", "eta_range_minutes", "issued_at", "called_at", "started_at", "finished_at", "counter",
                "status_url", "print"):
        assert key in ticket, key
    assert ticket["code"] == "A-001" and ticket["channel"] == "kiosk" and ticket["language"] == "qu"
    assert ticket["print"] == {"status": "disabled"}
    assert "document" not in ticket and "name" not in ticket  # only staff see them
    staff_view = api.get(f"/tickets/{ticket['id']}")
    assert staff_view.json["document"] == {"type": "DNI", "number": "12345678"}
    assert [e["type"] for e in staff_view.json["history"]] == ["ticket.issued"]
    public = api.as_(None).get(f"/public/tickets/{ticket['public_id']}")
    assert public.status_code == 200
    assert public.json["code"] == "A-001" and public.json["position"] == 1
    assert "document" not in public.json and "name" not in public.json and "id" not in public.json


def test_collections_are_wrapped(api, tokens):
    api.post("/tickets", {"service": "ORI"})
    assert list(api.get("/services").json) == ["services"]
    assert list(api.get("/queue?service=ORI").json) == ["tickets"]
    assert list(api.get("/counters").json) == ["counters"]
    assert set(api.get("/events?after=0").json) >= {"events"}
    assert list(api.as_(tokens["display"]).get("/board").json) == ["calls"]
    services = {s["code"]: s for s in api.get("/services").json["services"]}
    assert services["ORI"]["waiting"] == 1 and services["ORI"]["open"] is True
    assert services["ORI"]["prefix"] == "A" and services["ORI"]["names"]["es"] == "Orientación legal"


def test_wait_estimate_is_null_until_a_counter_serving_the_service_opens(api, tokens):
    ticket = api.as_(tokens["kiosk"]).post("/tickets", {"service": "PEN"}).json
    assert ticket["eta_minutes"] is None and ticket["eta_range_minutes"] is None
    public = api.as_(None).get(f"/public/tickets/{ticket['public_id']}").json
    assert public["eta_minutes"] is None and public["eta_range_minutes"] is None
    page = api.client.get(f"/t/{ticket['public_id']}").get_data(as_text=True)
    assert "Espera estimada: por confirmar" in page
    listed = {s["code"]: s for s in api.as_(tokens["kiosk"]).get("/services").json["services"]}
    assert listed["PEN"]["eta_minutes"] is None and listed["PEN"]["eta_range_minutes"] is None
    api.post("/counters/v1/open")  # ORI and PEN
    second = api.as_(tokens["kiosk"]).post("/tickets", {"service": "PEN"}).json
    spread = second["eta_range_minutes"]
    assert set(spread) == {"low", "high"} and spread["low"] <= second["eta_minutes"] <= spread["high"]
    assert second["eta_minutes"] > 0  # one person before, a free counter calls the first
    public = api.as_(None).get(f"/public/tickets/{second['public_id']}").json
    assert public["eta_range_minutes"] == spread and public["eta_minutes"] == second["eta_minutes"]
    listed = {s["code"]: s for s in api.as_(tokens["kiosk"]).get("/services").json["services"]}
    assert listed["PEN"]["eta_range_minutes"]["high"] >= spread["high"]  # a third person waits longer
    assert listed["VIC"]["eta_minutes"] is None  # nobody serves VIC yet
    board = api.as_(tokens["display"]).get("/events?after=0").json["events"]
    assert all("eta_minutes" not in e["data"].get("ticket", {}) for e in board)  # the hall gets no estimate
    page = api.client.get(f"/t/{second['public_id']}").get_data(as_text=True)
    # (the services list made the queue's full forecast: the page and the API now read that one)
    spread = api.as_(None).get(f"/public/tickets/{second['public_id']}").json["eta_range_minutes"]
    words = f"entre {spread['low']} y {spread['high']} minutos" if spread["low"] < spread["high"] else "minuto"
    assert words in page


def test_counter_workflow_over_http(api, tokens):
    ticket = api.post("/tickets", {"service": "ORI"}).json
    assert api.post("/counters/v1/open").json["counter"]["state"] == "open"
    called = api.post("/counters/v1/call-next")
    assert called.status_code == 200 and called.json["ticket"]["id"] == ticket["id"]
    busy = api.post("/counters/v1/call-next")
    assert busy.status_code == 409 and error_code(busy) == "counter_busy"
    assert api.post("/counters/v1/recall").json["ticket"]["recalls"] == 1
    assert api.post(f"/tickets/{ticket['id']}/start").json["ticket"]["status"] == "serving"
    done = api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved"})
    assert done.status_code == 200 and done.json["ticket"]["status"] == "done"
    empty = api.post("/counters/v1/call-next")
    assert empty.status_code == 204 and empty.data == b""
    paused = api.post("/counters/v1/pause", {"reason": "almuerzo"})
    assert paused.json["counter"]["state"] == "paused"
    assert error_code(api.post("/counters/v1/call-next")) == "counter_paused"
    assert api.post("/counters/v1/resume").json["counter"]["state"] == "open"
    taken = api.as_(tokens["beto"]).post("/counters/v1/open")
    assert taken.status_code == 409 and error_code(taken) == "counter_taken"
    assert api.post("/counters/v1/close").json["counter"]["state"] == "closed"
    counters = {c["id"]: c for c in api.get("/counters").json["counters"]}
    assert set(counters["v1"]) >= {"id", "name", "services", "state", "staff", "ticket"}


def test_board_has_each_call_and_recall(api, tokens):
    api.post("/tickets", {"service": "ORI"})
    api.post("/counters/v1/call-next")
    api.post("/counters/v1/recall")
    api.post("/counters/v1/recall")
    calls = api.as_(tokens["display"]).get("/board").json["calls"]
    assert [c["recall"] for c in calls] == [True, True, False]
    assert calls[0]["seq"] > calls[1]["seq"] > calls[2]["seq"]
    assert set(calls[0]) >= {"code", "counter", "called_at", "recall", "seq"}


def test_display_never_receives_personal_data(api, tokens):
    ticket = api.post("/tickets", {"service": "VIC", "name": "María Quispe",
                                   "document": {"type": "DNI", "number": "45678912"}}).json
    api.post("/counters/c1/call-next")
    api.post(f"/tickets/{ticket['id']}/start")
    api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "pending", "notes": "denuncia", "case_ref": "C-9"})
    for token in ("display", "display_vic"):
        for path in ("/events?after=0", "/board"):
            body = api.as_(tokens[token]).get(path).get_data(as_text=True)
            for secret in ("María", "45678912", "denuncia", "C-9", '"document"', '"notes"', '"case_ref"', '"staff"',
                           '"public_id"', '"by"'):
                assert secret not in body, (token, path, secret)
    # VIC is discreet: staff not assigned to it do not see its personal data; a supervisor does.
    staff_body = api.get("/events?after=0").get_data(as_text=True)
    assert "45678912" not in staff_body and "María" not in staff_body
    supervisor_body = api.as_(tokens["sofia"]).get("/events?after=0").get_data(as_text=True)
    assert "45678912" in supervisor_body and "María" in supervisor_body


def test_display_service_filter(api, tokens):
    api.post("/tickets", {"service": "ORI"})
    api.post("/tickets", {"service": "VIC"})
    events = api.as_(tokens["display_vic"]).get("/events?after=0").json["events"]
    services = {e["data"]["ticket"]["service"] for e in events if "ticket" in e["data"]}
    assert services == {"VIC"}


def test_events_paging(api):
    for _ in range(5):
        api.post("/tickets", {"service": "ORI"})
    page = api.get("/events?after=2&limit=2").json["events"]
    assert [e["seq"] for e in page] == [3, 4]
    assert set(page[0]) == {"seq", "id", "type", "at", "data"}
    assert api.get("/events?after=abc").status_code == 400


@pytest.mark.parametrize("path,body,token,status,code", [
    ("/tickets", None, "kiosk", 400, "malformed_json"),
    ("/tickets", {"service": 5}, "kiosk", 400, "invalid_type"),
    ("/tickets", {}, "kiosk", 422, "missing_field"),
    ("/tickets", {"service": "XXX"}, "kiosk", 422, "unknown_service"),
    ("/tickets", {"service": "ORI", "priority": "vip"}, "kiosk", 422, "invalid_priority"),
    ("/tickets", {"service": "ORI", "priority": "urgente"}, "kiosk", 403, "forbidden_priority"),
    ("/tickets", {"service": "ORI", "document": {"type": "DNI", "number": "12345678", "check": "9"}},
     "kiosk", 422, "invalid_document"),
    ("/tickets", {"service": "ORI", "document": "12345678"}, "kiosk", 400, "invalid_type"),
    ("/tickets", {"service": "ORI", "language": "xx"}, "kiosk", 422, "invalid_language"),
    ("/tickets", {"service": "ORI"}, "display", 403, "forbidden"),
    ("/tickets", {"service": "ORI"}, None, 401, "unauthorized"),
    ("/tickets/nope/start", {}, "ana", 404, "unknown_ticket"),
    ("/counters/zz/call-next", {}, "ana", 404, "unknown_counter"),
    ("/counters/v1/call-next", {}, "kiosk", 403, "forbidden"),
    ("/counters/v1/pause", {}, "ana", 422, "missing_field"),
    ("/tickets/nope/requeue", {}, "ana", 403, "forbidden"),  # role before existence
    ("/tickets/nope/finish", {"outcome": 1}, "ana", 400, "invalid_type"),
])
def test_error_paths(app, tokens, path, body, token, status, code):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens[token]}"} if token else {}
    before = (count(app, "tickets"), count(app, "events"))
    if body is None:
        response = client.post(f"/api/v1{path}", data="{not json", headers=headers)
    else:
        response = client.post(f"/api/v1{path}", json=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert error_code(response) == code
    assert set(response.json["error"]) >= {"code", "message"}
    assert (count(app, "tickets"), count(app, "events")) == before


def test_wrong_state_is_409_with_json(api):
    ticket = api.post("/tickets", {"service": "ORI"}).json
    response = api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved"})
    assert response.status_code == 409 and error_code(response) == "wrong_state"


def test_role_checked_before_state(api, tokens):
    ticket = api.post("/tickets", {"service": "ORI"}).json  # waiting: requeue would be 409
    response = api.as_(tokens["beto"]).post(f"/tickets/{ticket['id']}/requeue")
    assert response.status_code == 403
    assert api.as_(tokens["sofia"]).post(f"/tickets/{ticket['id']}/requeue").status_code == 409


def test_staff_cannot_read_stats_supervisor_can(api, tokens):
    assert api.get("/stats").status_code == 403
    response = api.as_(tokens["sofia"]).get("/stats?from=2026-11-01&to=2026-11-30")
    assert response.status_code == 200 and response.json["from"] == "2026-11-01"
    assert api.as_(tokens["sofia"]).get("/stats?from=ayer").status_code == 400


def test_oversized_body_is_413_json(api):
    response = api.post("/tickets", raw="{" + " " * (70 * 1024) + "}",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_code(response) == "too_large"


def test_unknown_api_route_and_method_are_json(api):
    response = api.get("/does-not-exist")
    assert response.status_code == 404 and error_code(response) == "not_found"
    response = api.client.delete("/api/v1/tickets")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


def test_bad_bearer_scheme_and_revoked_device(app, api, tokens):
    response = api.client.get("/api/v1/services", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    app.extensions["turnero"].accounts.revoke_device("kiosco-1")
    assert api.as_(tokens["kiosk"]).get("/services").status_code == 401


def test_idempotency_key_header(api, tokens, app):
    kiosk = api.as_(tokens["kiosk"])
    first = kiosk.post("/tickets", {"service": "ORI"}, headers={"Idempotency-Key": "tap-42"})
    second = kiosk.post("/tickets", {"service": "ORI"}, headers={"Idempotency-Key": "tap-42"})
    assert first.status_code == second.status_code == 201
    assert first.json["id"] == second.json["id"]
    assert count(app, "tickets") == 1


def test_an_empty_idempotency_key_is_no_key(api, tokens, app):
    kiosk = api.as_(tokens["kiosk"])
    statuses = [kiosk.post("/tickets", {"service": "ORI", "idempotency_key": ""}).status_code for _ in range(2)]
    assert statuses == [201, 201] and count(app, "tickets") == 2  # two tickets, not a 500 on the second


def test_kiosk_rate_limit(app, tokens):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens['kiosk']}"}
    limit = app.extensions["turnero"].settings.kiosk["rate_per_minute"]
    statuses = [client.post("/api/v1/tickets", json={"service": "ORI"}, headers=headers).status_code
                for _ in range(limit + 2)]
    assert statuses.count(201) == limit and statuses[-1] == 429
    limited = client.post("/api/v1/tickets", json={"service": "ORI"}, headers=headers)
    assert error_code(limited) == "rate_limited"
    staff = client.post("/api/v1/tickets", json={"service": "ORI"},
                        headers={"Authorization": f"Bearer {tokens['ana']}"})
    assert staff.status_code == 201  # the limit is per kiosk, staff are not throttled


def test_cookie_credentials_need_csrf(app, tokens):
    client = app.test_client()
    client.set_cookie("turnero_kiosk", tokens["kiosk"])
    assert client.get("/api/v1/services").status_code == 200
    response = client.post("/api/v1/tickets", json={"service": "ORI"})
    assert response.status_code == 400 and error_code(response) == "csrf_failed"


def test_priority_endpoint(api, tokens):
    ticket = api.post("/tickets", {"service": "ORI"}).json
    changed = api.post(f"/tickets/{ticket['id']}/priority", {"priority": "urgente"})
    assert changed.status_code == 200 and changed.json["ticket"]["priority"] == "urgente"
    assert api.post(f"/tickets/{ticket['id']}/priority", {}).status_code == 422  # the field is missing
    assert api.as_(tokens["kiosk"]).post(f"/tickets/{ticket['id']}/priority",
                                         {"priority": None}).status_code == 403


def test_transfer_and_call_specific(api):
    first = api.post("/tickets", {"service": "ORI"}).json
    second = api.post("/tickets", {"service": "ORI"}).json
    called = api.post(f"/tickets/{second['id']}/call", {"counter": "v1"})
    assert called.status_code == 200 and called.json["ticket"]["code"] == "A-002"
    moved = api.post(f"/tickets/{second['id']}/transfer", {"service": "PEN"})
    assert moved.status_code == 200 and moved.json["ticket"]["service"] == "PEN"
    assert moved.json["ticket"]["code"] == "A-002" and moved.json["ticket"]["status"] == "waiting"
    bad = api.post(f"/tickets/{first['id']}/transfer", {"service": "NOPE"})
    assert bad.status_code == 422


def test_healthz(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok" and body["db"] == "ok"
    assert set(body["sync"]) >= {"state", "backlog", "last_success", "last_error"}
    assert "status" in body["printer"] and "status" in body["voice"]


def test_healthz_503_when_database_cannot_be_written(app, data_dir):
    import sqlite3

    store = app.extensions["turnero"].store
    original = store.check_writable

    def fail():
        raise sqlite3.OperationalError("attempt to write a readonly database")

    store.check_writable = fail
    try:
        response = app.test_client().get("/healthz")
    finally:
        store.check_writable = original
    assert response.status_code == 503 and response.json["db"].startswith("error")


def test_openapi_lists_every_api_route(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(method.upper(), "/api/v1" + path) for path, ops in doc["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        path = path.replace("{ticket_id}", "{ticket_id}").replace("{public_id}", "{public_id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, (method, path)


def test_security_headers(app):
    response = app.test_client().get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_only_failed_logins_count_toward_the_limit(app, tokens):
    client = app.test_client()
    good = {"username": "ana", "password": PASSWORD}
    assert all(client.post("/api/v1/auth/login", json=good).status_code == 200 for _ in range(12))
    bad = {"username": "ana", "password": "otra-clave-mala"}
    assert [client.post("/api/v1/auth/login", json=bad).status_code for _ in range(10)] == [401] * 10
    refused = client.post("/api/v1/auth/login", json=good)  # guessing is slowed for everyone at that address
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"


def test_login_form_and_api_share_one_budget(app, tokens):
    client = app.test_client()
    bad = {"username": "ana", "password": "otra-clave-mala"}
    assert [client.post("/api/v1/auth/login", json=bad).status_code for _ in range(5)] == [401] * 5
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    form = [client.post("/login", data={**bad, "csrf_token": csrf}).status_code for _ in range(6)]
    assert form[:5] == [401] * 5 and form[5] == 429  # 10 failures in all, API and form together
    refused = client.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"


def test_contract_details_of_body_fields(api, tokens):
    waiting = api.post("/tickets", {"service": "ORI"}).json
    unknown_counter = api.post(f"/tickets/{waiting['id']}/call", {"counter": "v99"})
    assert unknown_counter.status_code == 422 and error_code(unknown_counter) == "unknown_counter"
    missing = api.post(f"/tickets/{waiting['id']}/call", {})
    assert missing.status_code == 422 and error_code(missing) == "missing_field"
    empty_language = api.post("/tickets", {"service": "ORI", "language": ""})
    assert empty_language.status_code == 422 and error_code(empty_language) == "invalid_language"
    assert api.get(f"/tickets/{waiting['id']}").json["status"] == "waiting"


def test_stats_take_days_or_rfc3339_times(app, tokens):
    supervisor = Api(app.test_client(), tokens["sofia"])
    api_ = Api(app.test_client(), tokens["ana"])
    api_.post("/tickets", {"service": "ORI"})
    by_day = supervisor.get("/stats?from=2026-11-25&to=2026-11-25")
    by_time = supervisor.get("/stats?from=2026-11-25T00:00:00-05:00&to=2026-11-25T23:59:59-05:00")
    assert by_day.status_code == by_time.status_code == 200
    assert by_day.json["totals"]["issued"] == by_time.json["totals"]["issued"] == 1
    utc = supervisor.get("/stats?from=2026-11-26T03:00:00Z")  # 22:00 on the 25th in Lima
    assert utc.status_code == 200 and utc.json["totals"]["issued"] == 1
    naive = supervisor.get("/stats?from=2026-11-25T10:00:00")
    assert naive.status_code == 400 and error_code(naive) == "invalid_date"


def test_chunked_body_over_the_limit_is_413(live_box):
    def body(size):
        yield b'{"service": "ORI", "name": "'
        for _ in range(size // 1024):
            yield b"x" * 1024
        yield b'"}'

    headers = {"Authorization": f"Bearer {live_box.tokens['ana']}", "Content-Type": "application/json"}
    large = requests.post(live_box.url + "/api/v1/tickets", data=body(80 * 1024), headers=headers, timeout=10)
    assert large.status_code == 413 and large.json()["error"]["code"] == "too_large"
    small = requests.post(live_box.url + "/api/v1/tickets", data=body(0), headers=headers, timeout=10)
    assert small.status_code == 201
    live_box.call("POST", f"/tickets/{small.json()['id']}/cancel", "sofia").raise_for_status()
