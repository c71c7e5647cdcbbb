"""turnero.web.websocket: an open WebSocket costs few greenlets, and Socket.IO behaves as before.

A small Socket.IO app on Gunicorn's gevent worker (as ``turnero run`` serves the box) with the
module installed and a ping interval of one second: every socket is pinged, a silent one is
dropped, a close is noticed, polling upgrades to WebSocket, a browser's offer of compression is
declined."""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
import socketio
import websocket

from tests.conftest import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
PING_INTERVAL, PING_TIMEOUT = 1, 1

APP = textwrap.dedent(f"""
    import gc

    import greenlet
    from flask import Flask
    from flask_socketio import SocketIO, emit, join_room

    from turnero.web import websocket

    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="gevent", manage_session=False,
                        ping_interval={PING_INTERVAL}, ping_timeout={PING_TIMEOUT})
    websocket.install(app, socketio.server.eio)
    connected = set()

    @socketio.on("connect")
    def connect(auth):
        from flask import request
        connected.add(request.sid)
        join_room("all")

    @socketio.on("disconnect")
    def disconnect(reason=None):
        from flask import request
        connected.discard(request.sid)

    @socketio.on("echo")
    def echo(data):
        emit("echoed", data)

    @app.route("/disconnect", methods=["POST"])
    def disconnect_all():
        for sid in list(connected):
            socketio.server.disconnect(sid)
        return {{"ok": True}}

    @app.route("/state")
    def state():
        gc.collect()
        return {{"connected": len(connected),
                 "greenlets": sum(isinstance(o, greenlet.greenlet) for o in gc.get_objects())}}
""")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ws")
    (folder / "ws_probe_app.py").write_text(APP)
    port = free_port()
    log = open(folder / "server.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", "--timeout", "0",
         "--no-control-socket", "--chdir", str(folder), "ws_probe_app:app"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(url + "/state", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        assert wait_for(up, 30), (folder / "server.log").read_text()[-2000:]
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=15)
        log.close()


def state(url) -> dict:
    return requests.get(url + "/state", timeout=5).json()


def raw_socket(url, header=()):
    """An Engine.IO WebSocket client by hand, CONNECTed to the default namespace."""
    ws = websocket.create_connection(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
                                     timeout=10, header=list(header))
    assert ws.recv().startswith("0")
    ws.send("40{}")
    assert ws.recv().startswith("40")
    return ws


def test_every_socket_is_pinged_and_a_silent_one_is_dropped(server):
    before = state(server)["connected"]
    answering = [raw_socket(server) for _ in range(10)]
    silent = [raw_socket(server) for _ in range(10)]
    assert wait_for(lambda: state(server)["connected"] == before + 20)
    pings = {id(ws): 0 for ws in answering}
    # Four intervals: every answering socket hears each ping and answers it; no silent one may outlive
    # its ping's timeout (the server closes it; waiting here longer than needed is harmless).
    deadline = time.time() + 4 * (PING_INTERVAL + PING_TIMEOUT)
    while time.time() < deadline:
        for ws in answering:
            ws.settimeout(0.05)
            try:
                while ws.recv() == "2":
                    pings[id(ws)] += 1
                    ws.send("3")
            except websocket.WebSocketTimeoutException:
                pass
        time.sleep(0.05)
    assert all(count >= 2 for count in pings.values()), pings
    assert state(server)["connected"] == before + 10
    for ws in silent:  # the server closed each one: whatever it had queued, then the end
        ws.settimeout(5)
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
            while True:
                if ws.recv() in ("", None):
                    raise websocket.WebSocketConnectionClosedException()
    for ws in answering:
        ws.close()
    assert wait_for(lambda: state(server)["connected"] == before)


def test_a_closed_or_vanished_client_is_noticed(server):
    before = state(server)["connected"]
    closing, vanishing = raw_socket(server), raw_socket(server)
    assert wait_for(lambda: state(server)["connected"] == before + 2)
    closing.close()  # a WebSocket close frame
    assert wait_for(lambda: state(server)["connected"] == before + 1)
    vanishing.sock.shutdown(socket.SHUT_RDWR)  # the TCP connection ends without a close frame
    vanishing.sock.close()
    assert wait_for(lambda: state(server)["connected"] == before)


def test_a_client_the_server_disconnects_hears_it_and_is_closed(server):
    sockets = [raw_socket(server) for _ in range(3)]
    assert requests.post(server + "/disconnect", timeout=5).ok  # (answers only once each close returned)
    for ws in sockets:
        ws.settimeout(5)
        heard = []
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
            while True:
                if (message := ws.recv()) in ("", None):
                    raise websocket.WebSocketConnectionClosedException()
                heard.append(message)
        assert "41" in heard  # Socket.IO's DISCONNECT, written before the connection ended
    assert wait_for(lambda: state(server)["connected"] == 0)


def test_polling_upgrades_to_websocket_and_messages_flow(server):
    client = socketio.Client(reconnection=False)
    answers = []
    client.on("echoed", answers.append)
    client.connect(server, transports=["polling", "websocket"], wait_timeout=10)
    try:
        assert wait_for(lambda: client.eio.current_transport == "websocket")
        client.emit("echo", {"n": 1})
        assert wait_for(lambda: answers == [{"n": 1}])
        time.sleep(2 * PING_INTERVAL + PING_TIMEOUT)  # its pings are answered: it stays connected
        assert client.connected
        client.emit("echo", {"n": 2})
        assert wait_for(lambda: answers == [{"n": 1}, {"n": 2}])
    finally:
        client.disconnect()


def test_a_browsers_offer_of_compression_is_declined(server):
    """Every browser offers permessage-deflate; accepted, each socket would keep a zlib compressor."""
    sock = socket.create_connection(("127.0.0.1", int(server.rsplit(":", 1)[1])), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: box\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    assert b"sec-websocket-extensions" not in head.lower()
    while len(rest) < 2 or len(rest) < 2 + rest[1]:  # the Engine.IO open packet, uncompressed
        rest += sock.recv(4096)
    assert rest[0] == 0x81 and json.loads(rest[3:2 + rest[1]])["pingInterval"] == PING_INTERVAL * 1000
    sock.close()


def test_an_open_websocket_holds_no_greenlet(server):
    """Not the request's (it ends after the handshake), no reader (the event loop watches the
    socket), no writer (one runs only while packets wait), no ping task; and each still answers."""
    before = state(server)
    sockets = [raw_socket(server) for _ in range(20)]
    assert wait_for(lambda: state(server)["connected"] == before["connected"] + 20)
    assert state(server)["greenlets"] - before["greenlets"] <= 1  # (the ping loop, started by the first)
    for n, ws in enumerate(sockets):
        ws.send(f'42["echo",{{"n":{n}}}]')
    for n, ws in enumerate(sockets):
        while (message := ws.recv()) == "2":
            ws.send("3")
        assert message == f'42["echoed",{{"n":{n}}}]'
    for ws in sockets:
        ws.close()


def test_an_engineio_it_was_not_checked_against_keeps_its_own_handling(monkeypatch):
    import importlib.metadata

    import engineio.socket
    from flask import Flask
    from flask_socketio import SocketIO

    from turnero.web import websocket as module

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.0.0")
    app = Flask(__name__)
    eio = SocketIO(app, async_mode="threading").server.eio
    wsgi_app, handler = app.wsgi_app, engineio.socket.Socket._websocket_handler
    module.install(app, eio)
    assert app.wsgi_app is wsgi_app and not hasattr(eio, "turnero_pings")
    assert engineio.socket.Socket._websocket_handler is handler
