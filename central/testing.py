"""Helpers to exercise the receiver on 127.0.0.1 (tests, benchmarks, pilots' rehearsals):

- :class:`CentralServer` runs the app in a thread with Werkzeug's threaded server;
- :class:`FaultProxy` sits between a box and the receiver and, on a script, answers 500 or 429
  with ``Retry-After``, holds a request past the client's timeout, drops the connection after the
  receiver stored the batch, or refuses connections altogether (a central that is down).
"""
from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections import deque

import requests
from werkzeug.serving import make_server

from central import create_app


class CentralServer:
    def __init__(self, database_url: str, host: str = "127.0.0.1", port: int = 0):
        self.app = create_app(database_url)
        self.db = self.app.extensions["central_db"]
        self.server = make_server(host, port, self.app, threaded=True)
        self.port = self.server.socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="central", daemon=True)

    def start(self) -> "CentralServer":
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.db.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class FaultProxy:
    """Forwards to ``upstream`` except for the faults queued with :meth:`script`, one per request:

    ``"stall_after:S"``: forward, then hold the answer S seconds and close;
    ``"500"``/``"503"``/any status: answer it without forwarding; ``"429:N"``: 429 with
    ``Retry-After: N``; ``"hang:S"``: hold the request S seconds, then close; ``"drop_after"``:
    forward, let the receiver store it, then close the connection with no answer.
    ``down()`` refuses connections until ``up()``.
    """

    def __init__(self, upstream: str, host: str = "127.0.0.1"):
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.faults: deque = deque()
        self.log: list[dict] = []  # {"method", "path", "fault", "events", "at"} per request
        self.lock = threading.Lock()
        self.session = requests.Session()
        self._server = None
        self.port = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def script(self, *faults: str):
        with self.lock:
            self.faults.extend(faults)

    def _next_fault(self):
        with self.lock:
            return self.faults.popleft() if self.faults else None

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._next_fault()
                proxy.log.append({"method": self.command, "path": self.path, "fault": fault,
                                  "events": _count_events(body), "at": time.monotonic()})
                if fault and fault.split(":")[0].isdigit():
                    status, _, retry_after = fault.partition(":")
                    payload = b'{"error": {"code": "injected", "message": "injected fault"}}'
                    self.send_response(int(status))
                    if retry_after:
                        self.send_header("Retry-After", retry_after)
                    if status.startswith("3"):  # a redirect somewhere else (a closed loopback port)
                        self.send_header("Location", "http://127.0.0.1:9" + self.path)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault and fault.startswith("hang"):
                    time.sleep(float(fault.partition(":")[2] or 5))
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                upstream = proxy.session.request(self.command, proxy.upstream + self.path, data=body,
                                                 headers=headers, timeout=60)
                if fault and fault.startswith("stall_after"):
                    # Stored upstream, answer held back: time for a test to kill the box mid-batch.
                    time.sleep(float(fault.partition(":")[2] or 30))
                    self.close_connection = True
                    return
                if fault == "drop_after":
                    # The receiver has stored the batch; the box never hears so and must re-send.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(upstream.status_code)
                for name in ("Content-Type", "Retry-After"):
                    if name in upstream.headers:
                        self.send_header(name, upstream.headers[name])
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = _handle

        self._server = http.server.ThreadingHTTPServer((self.host, self.port or 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()
        return self

    def down(self):
        """Stop listening: the box gets 'connection refused' as from a central that is down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def up(self):
        if self._server is None:
            self.start()

    def stop(self):
        self.down()
        self.session.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _count_events(body: bytes | None):
    if not body:
        return None
    try:
        return len(json.loads(body)["events"])
    except (ValueError, KeyError, TypeError):
        return None
