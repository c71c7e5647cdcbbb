"""Socket.IO delivery: rooms, order, privacy, catch-up; with Flask-SocketIO's test client and with a
real python-socketio client against a real server."""
import threading

import pytest
import socketio

from tests.conftest import LiveBox, wait_for, write_sede


def received(client):
    return [(item["name"], item["args"][0]) for item in client.get_received()]


@pytest.fixture
def sio(app):
    return app.extensions["turnero"].socketio


@pytest.fixture
def pump(app):
    return app.extensions["turnero"].pump


def test_connect_needs_credentials(app, sio, tokens):
    anonymous = sio.test_client(app)
    assert not anonymous.is_connected()
    wrong = sio.test_client(app, auth={"token": "nope"})
    assert not wrong.is_connected()
    assert sio.test_client(app, auth={"token": tokens["ana"]}).is_connected()


def test_rooms_views_and_order(app, sio, pump, api, tokens, clock):
    staff = sio.test_client(app, auth={"token": tokens["ana"]})
    display = sio.test_client(app, auth={"token": tokens["display"]})
    display_vic = sio.test_client(app, auth={"token": tokens["display_vic"]})
    ticket = api.post("/tickets", {"service": "VIC", "name": "Rosa Mamani",
                                   "document": {"type": "DNI", "number": "45678912"}}).json
    clock.advance(1)
    api.post("/tickets", {"service": "ORI"})
    api.post("/counters/c1/call-next")
    api.post("/counters/c1/recall")
    pump.pump()

    staff_events = received(staff)
    assert [name for name, _ in staff_events] == ["ticket.issued", "ticket.issued", "counter.opened",
                                                  "ticket.called", "ticket.recalled"]
    assert [payload["seq"] for _, payload in staff_events] == [1, 2, 3, 4, 5]
    assert set(staff_events[0][1]) >= {"seq", "type", "at", "data"}
    # The staff feed carries no personal data: consoles read it from the API, where reads are recorded.
    assert "45678912" not in repr(staff_events) and "Rosa" not in repr(staff_events)
    assert staff_events[0][1]["data"]["ticket"]["code"] == ticket["code"]

    display_events = received(display)
    assert [payload["seq"] for _, payload in display_events] == [1, 2, 3, 4, 5]
    text = repr(display_events)
    for secret in ("Rosa", "45678912", "'document':", "'staff':", "'public_id':", "'priority':"):
        assert secret not in text

    vic_events = received(display_vic)  # its services' tickets, and the counter events (once each)
    assert [name for name, _ in vic_events] == ["ticket.issued", "counter.opened", "ticket.called",
                                                "ticket.recalled"]
    assert [payload["seq"] for _, payload in vic_events] == [1, 3, 4, 5]
    assert all(p["data"]["ticket"]["service"] == "VIC" for _, p in vic_events if "ticket" in p["data"])
    assert vic_events[2][1]["data"]["ticket"]["code"] == ticket["code"]
    assert vic_events[3][1]["data"]["recall"] is True


def test_public_room_gets_public_view_only(app, sio, pump, api, tokens):
    ticket = api.post("/tickets", {"service": "ORI", "document": {"type": "DNI", "number": "45678912"}}).json
    pump.pump()
    watcher = sio.test_client(app, auth={"public_id": ticket["public_id"]})
    assert watcher.is_connected()
    api.post("/counters/v1/call-next")
    pump.pump()
    updates = [payload for name, payload in received(watcher) if name == "ticket.status"]
    assert updates and updates[-1]["ticket"]["status"] == "called"
    assert updates[-1]["ticket"]["counter_name"] == "Ventanilla 1"
    assert "45678912" not in repr(updates) and "id" not in updates[-1]["ticket"]
    # it hears nothing of other tickets
    assert all(name == "ticket.status" for name, _ in received(watcher))


def test_status_pages_hear_their_place_at_most_so_often_and_their_own_call_at_once(app, sio, pump, api, tokens):
    api.post("/counters/v1/open", {"services": ["PEN"]})
    first, second, third = [api.post("/tickets", {"service": "PEN"}).json for _ in range(3)]
    watcher = sio.test_client(app, auth={"public_id": third["public_id"]})
    called = sio.test_client(app, auth={"public_id": first["public_id"]})
    received(watcher), received(called)  # (what each page is told as it connects)
    pump.ESTIMATE_SECONDS = 0  # (the instance's throttles, so that no step depends on the clock)
    pump.step()
    assert moves(watcher) == [3]
    received(called)
    pump.PAGES_SECONDS = 3600
    api.post("/counters/v1/call-next")  # the first is called: every other page's place moves
    pump.step()
    assert [p["type"] for n, p in received(called) if n == "ticket.status"] == ["ticket.called"]  # at once
    assert [n for n, _ in received(watcher)] == []  # its new place waits for the pages' turn
    pump.PAGES_SECONDS = 0
    pump.step()  # (nothing new committed: the place is still due)
    assert moves(watcher) == [2]


def moves(page):
    """The places a status page was told as the queue moved."""
    return [p["ticket"]["position"] for n, p in received(page) if n == "ticket.status" and p["type"] == "queue.moved"]


def test_status_page_hears_its_estimate_as_the_queue_moves(app, sio, pump, api, tokens, clock):
    api.post("/counters/v1/open", {"services": ["PEN"]})
    first = api.post("/tickets", {"service": "PEN"}).json
    api.post("/counters/v1/call-next")
    tickets = [api.post("/tickets", {"service": "PEN"}).json for _ in range(3)]
    last = tickets[-1]
    assert last["eta_range_minutes"]["low"] <= last["eta_minutes"] <= last["eta_range_minutes"]["high"]
    pump.pump()
    watcher = sio.test_client(app, auth={"public_id": last["public_id"]})
    other = sio.test_client(app, auth={"public_id": tickets[0]["public_id"]})
    assert pump.refresh_estimates() == 2  # both pages hear their place and wait once
    assert pump.refresh_estimates() == 0  # and nothing again while nothing moved
    heard = [payload["ticket"] for name, payload in received(watcher) if name == "ticket.status"]
    assert heard[-1]["position"] == 3 and abs(heard[-1]["eta_minutes"] - last["eta_minutes"]) <= 2
    # the counter finishes and calls the next one: the last ticket moves up and its wait shrinks
    clock.advance(600)
    api.post(f"/tickets/{first['id']}/start")
    api.post(f"/tickets/{first['id']}/finish", {"outcome": "resolved"})
    api.post("/counters/v1/call-next")
    pump.pump()
    assert pump.refresh_estimates() == 1  # the other one is being called: it hears that event instead
    moved = [payload for name, payload in received(watcher) if name == "ticket.status"][-1]
    assert moved["type"] == "queue.moved" and moved["ticket"]["position"] == 2
    assert moved["ticket"]["eta_minutes"] < last["eta_minutes"]
    assert set(moved["ticket"]) == {"code", "service_label", "status", "position", "eta_minutes",
                                    "eta_range_minutes", "counter", "counter_name", "language", "issued_at",
                                    "called_at"}
    # the page of the ticket being called hears its own event, not an estimate
    called = [payload for name, payload in received(other) if name == "ticket.status"]
    assert called[-1]["type"] == "ticket.called" and called[-1]["ticket"]["eta_minutes"] is None


def test_transfer_reaches_both_service_rooms_once(app, sio, pump, api, tokens):
    display = sio.test_client(app, auth={"token": tokens["display"]})
    ticket = api.post("/tickets", {"service": "ORI"}).json
    api.post("/counters/c1/call-next")
    api.post(f"/tickets/{ticket['id']}/transfer", {"service": "VIC"})
    pump.pump()
    names = [name for name, _ in received(display)]
    assert names.count("ticket.transferred") == 1


def test_pump_picks_up_events_committed_by_another_process(app, pump, data_dir):
    from config import load_settings
    from turnero.engine import Engine
    from turnero.store import Store

    other = Engine(Store.in_data_dir(data_dir), load_settings(data_dir, {}))  # like the CLI would
    other.issue("ORI", channel="staff")
    assert pump.pump() == 1
    assert pump.last_seq == 1


@pytest.fixture(scope="module")
def real_box(tmp_path_factory):
    box = LiveBox(write_sede(tmp_path_factory.mktemp("rt") / "d")).prepare(
        devices=(("pantalla-1", "display", []),)).start()
    yield box
    box.stop()


def collector(box, token_name, transports=("websocket",)):
    client = socketio.Client(reconnection=False)
    seen = []
    lock = threading.Lock()

    @client.on("*")
    def any_event(event, data):
        with lock:
            seen.append((event, data))

    client.connect(box.url, auth={"token": box.tokens[token_name]}, transports=list(transports), wait_timeout=10)
    return client, seen


def test_real_client_receives_calls_in_order(real_box):
    client, seen = collector(real_box, "pantalla-1")
    try:
        start = real_box.call("GET", "/events?after=0").json()["last_seq"]
        for _ in range(5):
            real_box.call("POST", "/tickets", json={"service": "ORI"})
        for _ in range(5):
            ticket = real_box.call("POST", "/counters/v1/call-next").json()["ticket"]
            real_box.call("POST", f"/tickets/{ticket['id']}/no-show")
        assert wait_for(lambda: sum(1 for e, _ in seen if e == "ticket.no_show") == 5)
        seqs = [data["seq"] for _, data in seen if data["seq"] > start]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        assert seqs == list(range(start + 1, start + 1 + len(seqs)))  # no gap: the board room gets all
    finally:
        client.disconnect()


def test_real_client_catches_up_after_disconnect(real_box):
    client, seen = collector(real_box, "ana", transports=("polling", "websocket"))
    real_box.call("POST", "/tickets", json={"service": "PEN"})
    assert wait_for(lambda: any(e == "ticket.issued" for e, _ in seen))
    last = max(data["seq"] for _, data in seen)
    client.disconnect()
    missed = [real_box.call("POST", "/tickets", json={"service": "PEN"}).json()["id"] for _ in range(3)]
    caught = real_box.call("GET", f"/events?after={last}").json()["events"]
    assert [e["data"]["ticket"]["id"] for e in caught] == missed
    assert [e["seq"] for e in caught] == list(range(last + 1, last + 4))
