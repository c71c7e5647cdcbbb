"""Capacity of a real box (Gunicorn's gevent worker): hundreds of open WebSockets leave the API,
staff and devices working; the connection caps refuse the surplus with JSON before any upgrade,
keeping room for credentialed clients; slow clients are cut off; and kill -9 under that load loses
no acknowledged ticket. Clients are real sockets on loopback, each 127.0.0.x a client address."""
from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import websocket

from tests.conftest import SEDE_TOML, Kiosks, LiveBox, wait_for, write_sede
from turnero import store
from turnero.store import DB_FILE
from turnero.web.auth import device_cookie

SERVER = """
[server]
max_connections = 300
reserved_connections = 20
max_connections_per_address = {per_address}
header_timeout_seconds = 2
body_timeout_seconds = 2
"""
ANONYMOUS_SHARE = 300 - 20
WS_PATH = "/socket.io/?EIO=4&transport=websocket"
WAIT = 30  # generous: the server and hundreds of clients share 2 noisy cores
CUT_OFF = 20  # 10 times the 2 s deadline, yet short of Gunicorn's usual 30 s keep-alive, which would pass
DEVICES = (("kiosco-1", "kiosk", []), ("pantalla-1", "display", []))


def start_box(root, server_table: str = "") -> LiveBox:
    # SEDE_TOML ends inside [printer]: the appended table starts after it
    return LiveBox(write_sede(root / "data", SEDE_TOML + server_table)).prepare(devices=DEVICES).start()


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    box = start_box(tmp_path_factory.mktemp("capacity"), SERVER.format(per_address=250))
    yield box
    box.stop()


class Refused(Exception):
    """A WebSocket handshake answered with an HTTP error instead of the upgrade."""

    def __init__(self, status: int, body: bytes | None):
        super().__init__(f"{status} {body!r}")
        self.status = status
        self.body = body


def handshake(box, source="127.0.0.1", headers=()):
    """An Engine.IO WebSocket from ``source``, past its open packet; or Refused."""
    sock = socket.create_connection(("127.0.0.1", box.port), timeout=WAIT, source_address=(source, 0))
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{box.port}{WS_PATH}", socket=sock, timeout=WAIT,
                                         header=list(headers))
    except websocket.WebSocketBadStatusException as exc:
        sock.close()
        raise Refused(exc.status_code, exc.resp_body) from None
    assert ws.recv().startswith("0"), "no Engine.IO open packet"
    return ws


def join(ws, auth: dict):
    """Socket.IO's connect packet; returns once the namespace accepted it."""
    ws.send("40" + json.dumps(auth))
    while not (answer := ws.recv()).startswith("40"):
        assert not answer.startswith("44"), answer
        if answer == "2":
            ws.send("3")
    return ws


def connect(box, source="127.0.0.1", auth=None, headers=(), patient=False):
    """A joined client. ``patient``: the server may still be releasing sockets closed just before,
    so a refusal is retried (a cap that never frees up still fails, at WAIT)."""
    deadline = time.time() + WAIT
    while True:
        try:
            return join(handshake(box, source, headers), auth or viewer())
        except Refused:
            if not patient or time.time() > deadline:
                raise
            time.sleep(0.2)


def viewer() -> dict:
    # the status page of a ticket: the server joins any public id's room, issued or not
    return {"public_id": secrets.token_urlsafe(12)}


def bearer(box, name="pantalla-1") -> list:
    return [f"Authorization: Bearer {box.tokens[name]}"]


def assert_too_many(refused: Refused, status: int):
    assert refused.status == status, refused
    error = json.loads(refused.body)["error"]
    assert error["code"] == "too_many_connections" and error["message"], refused


class Crowd:
    """Clients held by one selector thread, which answers the server's pings (a silent client is
    dropped after ping interval + timeout) and keeps what each one hears; a thread per client would
    spend the cores the server needs."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.heard: dict = {}
        self.dropped = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, ws):
        self.heard[ws] = []
        self.selector.register(ws.sock, selectors.EVENT_READ, ws)
        return ws

    def open(self, box, count: int, auth=lambda index: viewer(), sources=8, patient=False) -> list:
        def one(index):
            return self.add(connect(box, f"127.0.0.{2 + index % sources}", auth(index), patient=patient))

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(count)))

    def events(self, ws, name: str) -> list:
        return [data for event, data in list(self.heard[ws]) if event == name]

    def _run(self):
        while not self.stopping.is_set():
            for key, _ in self.selector.select(0.2):
                ws = key.data
                try:
                    message = ws.recv()
                    if message == "2":
                        ws.send("3")
                except (websocket.WebSocketException, OSError):
                    message = None
                if message and message.startswith("42"):
                    self.heard[ws].append(tuple(json.loads(message[2:])[:2]))
                elif message in (None, "", "1", "41"):  # closed by the server
                    self.selector.unregister(key.fileobj)
                    self.dropped += 1

    def close(self, abrupt=False):
        """Close every client: with a close frame (not waiting for the server's), or ``abrupt``ly,
        the TCP connection only, as a browser tab that is killed."""
        self.stopping.set()
        self.thread.join(timeout=WAIT)
        for ws in self.heard:
            if abrupt:
                ws.shutdown()
            else:
                ws.close(timeout=0)
        self.heard = {}


@pytest.fixture
def crowd():
    crowd = Crowd()
    yield crowd
    crowd.close()


def test_hundreds_of_viewers_leave_devices_staff_and_api_working(box, crowd):
    issued = [box.call("POST", "/tickets", json={"service": "PEN"}).json() for _ in range(10)]
    # 30 pages of real tickets (3 phones each), 220 of ids that were never issued
    watched = [issued[index % 10]["public_id"] if index < 30 else None for index in range(250)]
    viewers = crowd.open(box, 250, auth=lambda index: {"public_id": watched[index]} if watched[index] else viewer())
    # credentials in the connect packet only: as anonymous as the viewers for the caps
    display = crowd.add(connect(box, auth={"token": box.tokens["pantalla-1"]}))
    staff = crowd.add(connect(box, auth={"token": box.tokens["ana"]}))

    assert requests.get(box.url + "/healthz", timeout=WAIT).status_code == 200
    assert box.call("POST", "/tickets", json={"service": "PEN"}).status_code == 201
    answer = box.call("POST", "/counters/v1/call-next")
    assert answer.status_code == 200, answer.text
    ticket = answer.json()["ticket"]
    public_id = {item["id"]: item["public_id"] for item in issued}[ticket["id"]]
    pages = [ws for ws, watching in zip(viewers, watched) if watching == public_id]
    assert len(pages) == 3

    assert wait_for(lambda: any(event["data"]["ticket"]["code"] == ticket["code"]
                                for event in crowd.events(display, "ticket.called")), WAIT)
    assert wait_for(lambda: any(event["data"]["ticket"]["id"] == ticket["id"]
                                for event in crowd.events(staff, "ticket.called")), WAIT)
    assert wait_for(lambda: all(any(status["type"] == "ticket.called" for status in crowd.events(ws, "ticket.status"))
                                for ws in pages), WAIT)
    assert crowd.events(pages[0], "ticket.status")[-1]["ticket"]["status"] == "called"
    others = [ws for ws in viewers if ws not in pages]
    assert not any(status["type"] == "ticket.called" for ws in others for status in crowd.events(ws, "ticket.status"))
    assert crowd.dropped == 0


def database_connections(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).endswith(DB_FILE)
        except FileNotFoundError:  # closed since the listing (a request's socket, a released connection)
            pass
    return count


def test_open_sockets_hold_no_database_connection_of_the_worker(box, crowd):
    """Each socket's greenlet read the database at its handshake (its credential); it hands the
    connection on instead of keeping it (~140 KB) for the socket's life."""
    for _ in range(40):
        crowd.add(connect(box, auth={"token": box.tokens["pantalla-1"]}))
        crowd.add(connect(box, auth={"token": box.tokens["ana"]}))
    workers = [int(pid) for task in Path(f"/proc/{box.process.pid}/task").iterdir()
               for pid in (task / "children").read_text().split()
               if Path(f"/proc/{pid}/comm").read_text().strip() != "turnero-devices"]
    assert workers
    assert box.call("POST", "/tickets", json={"service": "PEN"}).status_code == 201
    # the event pump's, a request's, the thread pool's: a few, not one per socket
    assert all(database_connections(pid) <= store.FREE_CONNECTIONS + 4 for pid in workers)


def test_over_the_anonymous_share_only_credentialed_clients_connect(box, crowd):
    crowd.open(box, ANONYMOUS_SHARE, patient=True)  # patient: the previous test's clients may be closing
    assert requests.get(box.url + "/healthz", timeout=WAIT).status_code == 200  # plain HTTP is not capped
    with pytest.raises(Refused) as refused:
        handshake(box, "127.0.0.99")
    assert_too_many(refused.value, 503)
    with pytest.raises(Refused) as refused:  # a credential must be valid to count
        handshake(box, "127.0.0.99", headers=["Authorization: Bearer no-such-token"])
    assert_too_many(refused.value, 503)
    polling = requests.get(box.url + "/socket.io/?EIO=4&transport=polling", timeout=WAIT)
    assert polling.status_code == 503 and polling.json()["error"]["code"] == "too_many_connections"

    # the reserve is for devices and staff: a token on the upgrade request, or the device's cookie
    display = {"token": box.tokens["pantalla-1"]}
    for index in range(300 - ANONYMOUS_SHARE):
        headers = bearer(box) if index % 2 else [f"Cookie: {device_cookie('display')}={display['token']}"]
        crowd.add(connect(box, "127.0.0.99", display, headers=headers))
    with pytest.raises(Refused) as refused:  # the whole of max_connections is spent
        handshake(box, "127.0.0.99", headers=bearer(box))
    assert_too_many(refused.value, 503)
    assert crowd.dropped == 0

    crowd.close()  # the count goes back down as clients leave
    connect(box, "127.0.0.99", patient=True).close(timeout=0)


@pytest.fixture
def small_box(tmp_path):
    box = start_box(tmp_path, SERVER.format(per_address=5))
    yield box
    box.stop()


def test_one_address_over_its_share_gets_429_and_others_still_connect(small_box, crowd):
    # (the crowd fixture closes its clients before the box stops: else they hold up a graceful stop)
    for _ in range(5):
        crowd.add(connect(small_box, "127.0.0.7"))
    with pytest.raises(Refused) as refused:
        handshake(small_box, "127.0.0.7")
    assert_too_many(refused.value, 429)
    crowd.add(connect(small_box, "127.0.0.8"))
    # a device behind the same address (the sede's NAT) still connects
    display = {"token": small_box.tokens["pantalla-1"]}
    crowd.add(connect(small_box, "127.0.0.7", display, headers=bearer(small_box)))
    assert crowd.dropped == 0
    crowd.close(abrupt=True)  # no close frame: the end of the TCP connection is enough
    connect(small_box, "127.0.0.7", patient=True).close(timeout=0)


def test_credentialed_clients_do_not_use_up_their_address_share(small_box, crowd):
    # the contract: clients with a valid credential are not counted against max_connections_per_address
    display = {"token": small_box.tokens["pantalla-1"]}
    for _ in range(5):  # devices first, while the anonymous share is far from full
        crowd.add(connect(small_box, "127.0.0.7", display, headers=bearer(small_box)))
    for _ in range(5):
        crowd.add(connect(small_box, "127.0.0.7"))
    with pytest.raises(Refused) as refused:
        handshake(small_box, "127.0.0.7")
    assert_too_many(refused.value, 429)


def raw(box, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", box.port), timeout=WAIT)
    sock.sendall(data)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection, which it must within CUT_OFF s."""
    received, deadline = b"", time.time() + CUT_OFF
    try:
        while True:
            sock.settimeout(max(0.1, deadline - time.time()))
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
    except ConnectionResetError:
        return received
    except TimeoutError:
        pytest.fail(f"still open after {CUT_OFF} s; received {received[:200]!r}")
    finally:
        sock.close()


def last_seq(box) -> int:
    return box.call("GET", "/events?after=0&limit=1").json()["last_seq"]


def test_half_sent_headers_and_idle_keep_alive_are_dropped(box):
    half = raw(box, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: the headers never end
    idle = raw(box, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert requests.get(box.url + "/healthz", timeout=WAIT).status_code == 200  # others are served meanwhile
    assert until_closed(half) == b""
    assert until_closed(idle).startswith(b"HTTP/1.1 200 ")  # answered, then closed while idle


def test_half_sent_body_gets_408_and_issues_nothing(box):
    before = last_seq(box)
    head = (f"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {box.tokens['ana']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    answer = until_closed(raw(box, head.encode() + b'{"service"'))  # 10 of the 100 bytes
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.split()[1] == b"408", answer
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert last_seq(box) == before
    assert box.call("POST", "/tickets", json={"service": "PEN"}).status_code == 201


def test_kill_9_under_load_with_hundreds_of_viewers_loses_no_acknowledged_ticket(tmp_path, crowd):
    box = start_box(tmp_path)  # the defaults: no [server] table
    kiosks = Kiosks(box, timeout=WAIT)
    try:
        crowd.open(box, 200, sources=20)  # 10 an address, under the default 20
        kiosks.start()
        wait_for(lambda: len(kiosks.acknowledged) >= 100, WAIT)
        assert crowd.dropped == 0
        box.kill(signal.SIGKILL)  # the whole process group, mid-load
        kiosks.stop()
        acknowledged = [ticket["id"] for ticket in kiosks.acknowledged]
        assert len(acknowledged) >= 20
        crowd.close()

        box.start()  # same data directory and port
        events, after = [], 0
        while page := box.call("GET", f"/events?after={after}&limit=1000").json()["events"]:
            events += page
            after = page[-1]["seq"]
        assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
        issued = {event["data"]["ticket"]["id"] for event in events if event["type"] == "ticket.issued"}
        assert set(acknowledged) <= issued
        assert box.call("GET", f"/tickets/{acknowledged[-1]}").status_code == 200
    finally:
        kiosks.stop()
        crowd.close()
        box.stop()


def test_two_web_workers_deliver_every_call_to_every_display(tmp_path, crowd):
    """[server] workers = 2: sockets land on either worker and each worker pumps the committed
    events to its own, woken through the device process; polling is refused (a polling session
    lives in one process), the API answers from both, and no call is lost or doubled."""
    box = start_box(tmp_path, "\n[server]\nworkers = 2\n")
    try:
        workers = {line for line in (tmp_path / "data" / "server.log").read_text().splitlines()
                   if "Booting worker" in line}
        assert len(workers) == 2, workers
        displays = crowd.open(box, 12, auth=lambda index: {"token": box.tokens["pantalla-1"]})
        polling = requests.get(f"{box.url}/socket.io/?EIO=4&transport=polling", timeout=WAIT)
        assert polling.status_code == 400
        box.call("POST", "/counters/v1/open", "beto").raise_for_status()
        codes = []
        for _ in range(8):  # through fresh connections: both workers take turns issuing and calling
            assert box.call("POST", "/tickets", json={"service": "ORI"}).status_code == 201
            called = box.call("POST", "/counters/v1/call-next", "beto")
            assert called.status_code == 200, called.text
            codes.append(called.json()["ticket"]["code"])
            box.call("POST", f"/tickets/{called.json()['ticket']['id']}/no-show", "beto").raise_for_status()
        assert wait_for(lambda: all(len(crowd.events(ws, "ticket.called")) >= len(codes) for ws in displays), WAIT)
        for ws in displays:
            heard = [data["data"]["ticket"]["code"] for data in crowd.events(ws, "ticket.called")]
            assert heard == codes, heard  # each call once, in order
        events = box.call("GET", "/events?after=0&limit=1000", "sofia").json()["events"]
        assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    finally:
        box.stop()


def test_long_reads_run_off_the_event_loop_and_still_answer_errors_in_json(box):
    """Reports and the what-if run on gevent's thread pool (turnero.web.offload): their answers,
    and their errors, come back as from any other view."""
    stats = box.call("GET", "/stats", "sofia")
    assert stats.status_code == 200 and "totals" in stats.json()
    bad = box.call("GET", "/stats?from=nope", "sofia")
    assert bad.status_code == 400 and bad.json()["error"]["code"]
    what_if = box.call("POST", "/supervision/what-if", "sofia", json={"options": "nope"})
    assert what_if.status_code in (400, 422) and what_if.json()["error"]["code"]
