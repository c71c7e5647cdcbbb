"""The supervisor's what-if: who may ask, what is refused, and that the answers move the right way."""
from __future__ import annotations

import pytest

from tests.test_api import error_code

CLOSE_V1 = {"scenarios": [{"changes": [{"counter": "v1", "action": "close"}]}]}


@pytest.fixture
def busy(api, tokens):
    """v1 (ORI, PEN) open, a queue of ORI and PEN."""
    api.post("/counters/v1/open")
    for index in range(8):
        api.post("/tickets", {"service": "PEN" if index % 2 else "ORI"})
    api.post("/counters/v1/call-next")
    return api.as_(tokens["sofia"])


def test_only_supervisors_may_ask(api, tokens):
    assert api.as_(tokens["ana"]).post("/supervision/what-if", CLOSE_V1).status_code == 403
    assert error_code(api.as_(tokens["kiosk"]).post("/supervision/what-if", CLOSE_V1)) == "forbidden"
    assert api.as_(tokens["display"]).post("/supervision/what-if", CLOSE_V1).status_code == 403
    assert error_code(api.as_(None).post("/supervision/what-if", CLOSE_V1)) == "unauthorized"
    assert api.as_(tokens["sofia"]).post("/supervision/what-if", CLOSE_V1).status_code == 200


@pytest.mark.parametrize("body, status, code", [
    ({}, 422, "missing_field"),
    ({"scenarios": []}, 422, "invalid_scenarios"),
    ({"scenarios": [{"changes": [{"counter": "v1", "action": "close"}]}] * 5}, 422, "invalid_scenarios"),
    ({"scenarios": "v1"}, 400, "invalid_type"),
    ({"scenarios": [{"changes": [{"counter": "zz", "action": "close"}]}]}, 422, "unknown_counter"),
    ({"scenarios": [{"changes": [{"counter": "v1", "action": "explode"}]}]}, 422, "invalid_action"),
    ({"scenarios": [{"changes": [{"counter": "v1", "action": "services"}]}]}, 422, "missing_field"),
    ({"scenarios": [{"changes": [{"counter": "v1", "action": "services", "services": ["XXX"]}]}]}, 422,
     "unknown_service"),
    ({"scenarios": [{"changes": [{"counter": "v1", "action": "open", "services": [1]}]}]}, 400, "invalid_type"),
    ({"scenarios": [{"changes": []}]}, 422, "invalid_scenarios"),
    ({"scenarios": [{"changes": [{"counter": "v1", "action": "close"}]}], "horizon_minutes": 5}, 422,
     "invalid_horizon"),
    ({"scenarios": [{"changes": [{"counter": "v1", "action": "close"}]}], "horizon_minutes": "2h"}, 400,
     "invalid_type"),
])
def test_bad_requests_are_refused_in_json(api, tokens, body, status, code):
    response = api.as_(tokens["sofia"]).post("/supervision/what-if", body)
    assert response.status_code == status, response.json
    assert error_code(response) == code and response.json["error"]["message"]


def test_not_json_is_400(api, tokens):
    response = api.as_(tokens["sofia"]).post("/supervision/what-if", raw="{",
                                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == "malformed_json"


def test_each_choice_is_forecast_beside_things_as_they_are(busy, app):
    body = {"scenarios": [
        {"label": "abrir v2", "changes": [{"counter": "v2", "action": "open"}]},
        {"changes": [{"counter": "v1", "action": "close"}]},
        {"changes": [{"counter": "v1", "action": "services", "services": ["PEN"]}]},
        {"changes": [{"counter": "c1", "action": "open", "services": ["ORI", "PEN"]},
                     {"counter": "v1", "action": "services", "services": ["ORI"]}]},
    ], "horizon_minutes": 120}
    before = app.extensions["turnero"].engine.last_seq()
    answer = busy.post("/supervision/what-if", body).json
    assert app.extensions["turnero"].engine.last_seq() == before  # nothing changed
    assert answer["horizon_minutes"] == 120 and len(answer["scenarios"]) == 5
    now, more, closed, pen_only, moved = [{s["code"]: s for s in scenario["services"]}
                                          for scenario in answer["scenarios"]]
    assert answer["scenarios"][0]["changes"] == [] and answer["scenarios"][1]["label"] == "abrir v2"
    assert [c["id"] for c in answer["scenarios"][1]["counters"]] == ["v1", "v2"]
    assert now["ORI"]["waiting"] == 3 and now["PEN"]["waiting"] == 4
    for code in ("ORI", "PEN"):
        assert 0 <= now[code]["wait_median_minutes"] <= now[code]["wait_p90_minutes"]
    # one more counter for ORI: ORI waits less
    assert more["ORI"]["wait_median_minutes"] < now["ORI"]["wait_median_minutes"]
    # close the only counter: nobody serves ORI or PEN, so no forecast
    assert closed["ORI"]["served"] is False and closed["ORI"]["wait_median_minutes"] is None
    assert closed["PEN"]["new_ticket"] is None
    # v1 takes PEN only: PEN waits less, ORI has nobody
    assert pen_only["PEN"]["wait_median_minutes"] < now["PEN"]["wait_median_minutes"]
    assert pen_only["ORI"]["served"] is False
    # two changes in one choice: c1 opens for ORI and PEN and v1 keeps ORI
    assert moved["PEN"]["served"] and moved["ORI"]["wait_median_minutes"] < now["ORI"]["wait_median_minutes"]
    assert {"low", "minutes", "high"} == set(now["ORI"]["new_ticket"])
    assert now["VIC"]["served"] is False and now["VIC"]["within_target"] is None


def test_opening_a_paused_counter_is_a_choice(busy, api, tokens):
    """A paused counter is expected back after a usual pause; "open" in the what-if opens it now."""
    beto = api.as_(tokens["beto"])
    assert beto.post("/counters/v2/open").status_code == 200
    assert beto.post("/counters/v2/pause", {"reason": "almuerzo"}).status_code == 200
    body = {"scenarios": [{"changes": [{"counter": "v2", "action": "open"}]},
                          {"changes": [{"counter": "v2", "action": "close"}]}]}
    scenarios = busy.post("/supervision/what-if", body).json["scenarios"]
    assert [(c["id"], c["paused"]) for c in scenarios[0]["counters"]] == [("v1", False), ("v2", True)]
    assert [(c["id"], c["paused"]) for c in scenarios[1]["counters"]] == [("v1", False), ("v2", False)]
    now, opened, closed = [{s["code"]: s for s in scenario["services"]} for scenario in scenarios]
    assert opened["ORI"]["wait_median_minutes"] < now["ORI"]["wait_median_minutes"] \
        < closed["ORI"]["wait_median_minutes"]
