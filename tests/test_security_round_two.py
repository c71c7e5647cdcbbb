"""The smaller findings of the second security review (item 10), each as it failed before."""
import re
import socket

import pytest
import requests

from tests.conftest import PASSWORD, SEDE_TOML, Api, LiveBox, write_sede
from tests.test_admin import csrf as page_csrf, login


def error_code(response):
    return response.json["error"]["code"]


def test_every_answer_carries_a_content_security_policy(app, tokens):
    client = app.test_client()
    for path in ("/healthz", "/login", "/api/v1/openapi.json", "/kiosk"):
        policy = client.get(path).headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_long_api_urls_get_a_json_414(app, tokens):
    response = Api(app.test_client(), tokens["ana"]).get("/tickets/" + "x" * 5000)
    assert response.status_code == 414 and error_code(response) == "uri_too_long"


def test_the_real_server_answers_what_it_refuses_in_json(tmp_path):
    box = LiveBox(write_sede(tmp_path / "d")).prepare().start()
    try:
        response = requests.get(f"{box.url}/api/v1/queue?service={'A' * 6000}", timeout=10)
        assert response.status_code == 414
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"]["code"] == "uri_too_long"
        with socket.create_connection(("127.0.0.1", box.port), timeout=10) as raw:
            raw.sendall(b"GET /api/v1/services HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            answer = raw.recv(4096).decode("latin-1")
        assert answer.startswith("HTTP/1.1 400") and "application/json" in answer and "<html" not in answer
    finally:
        box.stop()


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "1999-12", "2026-13", "abc"])
def test_report_summary_of_an_impossible_month_is_a_clear_error(app, tokens, month):
    client = app.test_client()
    login(client, "sofia")
    response = client.get(f"/reports/summary?month={month}")
    body = response.get_data(as_text=True)
    assert response.status_code in (400, 422)
    assert "AAAA-MM" in body or "entre 2000" in body


def test_csv_cells_that_look_like_formulas_are_defused(tmp_path, clock):
    from turnero import create_app

    data = write_sede(tmp_path / "d", SEDE_TOML.replace('name = "Ventanilla 1"', 'name = "=HYPERLINK(1)"'))
    app = create_app({"DATA_DIR": str(data), "NOW": clock, "ENV": {}, "START_WORKERS": False, "TESTING": True})
    try:
        from tests.conftest import add_users_fast

        tokens = add_users_fast(app.extensions["turnero"].store)
        api = Api(app.test_client(), tokens["ana"])
        ticket = api.post("/tickets", {"service": "ORI"}).json
        api.post("/counters/v1/call-next")
        api.post(f"/tickets/{ticket['id']}/start")
        api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved"})
        client = app.test_client()
        login(client, "sofia")
        text = client.get("/reports/export.csv").get_data(as_text=True)
        assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


def test_api_logout_with_the_page_session_ends_it(app, tokens):
    client = app.test_client()
    login(client, "ana")
    csrf = page_csrf(client, "/counter")
    assert client.get("/api/v1/queue").status_code == 200
    response = client.post("/api/v1/auth/logout", headers={"X-CSRFToken": csrf})
    assert response.status_code == 200
    assert client.get("/api/v1/queue").status_code == 401
    store = app.extensions["turnero"].store
    assert store.read_one("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                          "WHERE u.username = 'ana'")[0] == 1  # only the fixture's bearer session is left


@pytest.mark.parametrize("name", ["Rosa\x00Mamani", "Rosa \u202einamaM", "\u2066Rosa\u2069", "Ro\x1bsa"])
def test_names_with_control_or_bidi_override_characters_are_refused(api, name, app):
    response = api.post("/tickets", {"service": "ORI", "name": name})
    assert response.status_code == 422 and error_code(response) == "invalid_name"
    assert app.extensions["turnero"].engine.last_seq() == 0


def test_notes_keep_line_breaks_but_not_control_characters(api):
    ticket = api.post("/tickets", {"service": "ORI"}).json
    api.post("/counters/v1/call-next")
    api.post(f"/tickets/{ticket['id']}/start")
    bad = api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved", "notes": "a\x00b"})
    assert bad.status_code == 422 and error_code(bad) == "invalid_field"
    good = api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved", "notes": "línea 1\nlínea 2"})
    assert good.status_code == 200


def test_forwarded_addresses_are_believed_only_from_configured_proxies(tmp_path, clock):
    from turnero import create_app

    def make(proxies):
        data = write_sede(tmp_path / f"p{proxies}", SEDE_TOML.replace(
            'public_base_url = "http://turnero.test"',
            f'public_base_url = "https://turnero.test"\ntrusted_proxies = {proxies}'))
        return create_app({"DATA_DIR": str(data), "NOW": clock, "ENV": {}, "START_WORKERS": False,
                           "TESTING": True})

    bad = {"username": "nadie", "password": "x"}
    for proxies, expected in ((0, 429), (1, 401)):
        app = make(proxies)
        try:
            client = app.test_client()
            statuses = [client.post("/api/v1/auth/login", json=bad,
                                    headers={"X-Forwarded-For": f"10.0.0.{n}", "X-Forwarded-Proto": "https"}
                                    ).status_code for n in range(11)]
            # Without a trusted proxy, a client cannot escape the limit by claiming other addresses.
            assert statuses[-1] == expected, proxies
        finally:
            app.extensions["turnero"].stop()
            app.extensions["turnero"].store.close()
    app = make(1)
    try:
        from tests.conftest import add_users_fast

        add_users_fast(app.extensions["turnero"].store)
        client = app.test_client()
        page = client.get("/login", headers={"X-Forwarded-Proto": "https"}).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": csrf},
                               headers={"X-Forwarded-Proto": "https", "Referer": "https://localhost/login"})
        assert response.status_code == 302
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


def test_a_launcher_pairs_by_one_time_code_in_the_url_and_the_token_never_shows(app, tokens):
    accounts = app.extensions["turnero"].accounts
    code = accounts.create_pairing_code("kiosco-9", "kiosk", [], created_by="root")
    client = app.test_client()
    response = client.get(f"/pair?code={code}&role=kiosk")
    assert response.status_code == 302 and response.headers["Location"].endswith("/kiosk")
    assert "turnero_kiosk=" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    assert client.get("/kiosk").status_code == 200  # paired
    again = app.test_client().get(f"/pair?code={code}&role=kiosk")
    assert again.status_code == 422  # one time only
