"""Who may do what: staff cannot reach supervisor actions; kiosk and display tokens cannot reach the
console API; cookie credentials need the CSRF header. Runs against the shared live server, with
made-up ids (roles are checked before the id or the state, so the answer never depends on data)."""
from __future__ import annotations

import pytest
import requests

from tests.conftest import PASSWORD

SUPERVISOR_ONLY = [
    ("GET", "/supervision", None), ("GET", "/stats", None),
    ("POST", "/close-day", {"reason": "prueba"}),
    ("POST", "/counters/v1/services", {"services": ["ORI"], "reason": "prueba"}),
    ("POST", "/tickets/no-such-ticket/requeue", {"reason": "prueba"}),
]
CONSOLE = [
    ("GET", "/queue", None), ("GET", "/counters", None), ("GET", "/stats/me", None),
    ("GET", "/tickets?status=no_show", None),
    ("POST", "/counters/v1/open", {}), ("POST", "/counters/v1/call-next", None),
    ("POST", "/counters/v1/recall", None), ("POST", "/counters/v1/pause", {"reason": "x"}),
    ("POST", "/counters/v1/resume", None), ("POST", "/tickets/no-such-ticket/call", {"counter": "v1"}),
    ("POST", "/tickets/no-such-ticket/start", None), ("POST", "/tickets/no-such-ticket/finish", {"outcome": "resolved"}),
    ("POST", "/tickets/no-such-ticket/no-show", None), ("POST", "/tickets/no-such-ticket/transfer", {"service": "PEN"}),
    ("POST", "/tickets/no-such-ticket/return", None), ("POST", "/tickets/no-such-ticket/cancel", {}),
]


@pytest.mark.parametrize("method,path,body", SUPERVISOR_ONLY)
def test_staff_cannot_reach_supervisor_actions(live_box, method, path, body):
    response = live_box.call(method, path, "ana", json=body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("device", ["kiosco-1", "pantalla-1"])
@pytest.mark.parametrize("method,path,body", CONSOLE + SUPERVISOR_ONLY)
def test_devices_cannot_reach_the_console_api(live_box, device, method, path, body):
    response = live_box.call(method, path, device, json=body)
    assert response.status_code == 403, (device, path, response.text)
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("method,path,body", CONSOLE[:4] + SUPERVISOR_ONLY[:1])
def test_no_credentials_is_401(live_box, method, path, body):
    response = live_box.call(method, path, None, json=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_supervisor_unknown_ids_and_bad_bodies(live_box):
    missing = live_box.call("POST", "/tickets/no-such-ticket/requeue", "sofia", json={"reason": "x"})
    assert missing.status_code == 404
    assert live_box.call("POST", "/counters/zz/services", "sofia",
                         json={"services": ["ORI"], "reason": "x"}).status_code == 404
    no_reason = live_box.call("POST", "/close-day", "sofia", json={"reason": "  "})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "missing_reason"
    wrong_type = live_box.call("POST", "/counters/v1/services", "sofia", json={"services": "ORI", "reason": "x"})
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["code"] == "invalid_type"
    not_json = live_box.call("POST", "/close-day", "sofia", data="{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    bad_status = live_box.call("GET", "/tickets?status=lost", "ana")
    assert bad_status.status_code == 422 and bad_status.json()["error"]["code"] == "invalid_status"
    assert live_box.call("GET", "/tickets", "ana").status_code == 422  # ?status= is required


def _session(live_box, username) -> requests.Session:
    session = requests.Session()
    form = session.get(live_box.url + "/login", timeout=10).text
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    answer = session.post(live_box.url + "/login", data={"username": username, "password": PASSWORD,
                                                           "csrf_token": token, "next": "/counter"}, timeout=10)
    assert answer.status_code == 200
    return session


def test_pages_by_role(live_box):
    anonymous = requests.get(live_box.url + "/supervisor", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    ana = _session(live_box, "ana")
    assert ana.get(live_box.url + "/counter", timeout=10).status_code == 200
    for path in ("/supervisor", "/reports", "/reports/export.csv", "/reports/summary"):
        refused = ana.get(live_box.url + path, timeout=10)
        assert refused.status_code == 403, path
        assert "Su rol no permite" in refused.text
    sofia = _session(live_box, "sofia")
    for path in ("/counter", "/supervisor", "/reports", "/reports/summary"):
        assert sofia.get(live_box.url + path, timeout=10).status_code == 200, path
    kiosk = requests.get(live_box.url + "/counter", cookies={"turnero_device": live_box.tokens["kiosco-1"]},
                         allow_redirects=False, timeout=10)
    assert kiosk.status_code == 302  # a device cookie is not a staff session: off to the login form


def test_cookie_credentials_need_the_csrf_header(live_box):
    sofia = _session(live_box, "sofia")
    refused = sofia.post(live_box.url + "/api/v1/close-day", json={"reason": "sin token"}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "csrf_failed"
    assert sofia.get(live_box.url + "/api/v1/supervision", timeout=10).status_code == 200
