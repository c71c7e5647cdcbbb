"""Serve the app on Gunicorn's gevent worker: an idle WebSocket (a phone watching its ticket) is a
parked greenlet, not a thread, so thousands of them leave the API answering.

SQLite under gevent: its calls do not yield, so a write transaction runs to its end before any
other greenlet runs (no interleaving inside a transaction); writes are short (a durable commit is
well under a millisecond here).

One web worker by default. ``[server] workers`` above 1 runs more: each has its own sockets and
its own event pump reading the committed events, woken through the device process (see
turnero.web.devices and docs/capacity.md).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.ggevent import GeventWorker

WORKER_CONNECTIONS = 20000  # what one worker accepts; the app's own caps answer long before
_master_pid: int | None = None  # set in the worker: the Gunicorn master that can reload it


class GunicornApp(BaseApplication):
    """Gunicorn run from Python with our options (the central receiver uses it too)."""

    def __init__(self, app_factory, options: dict):
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        global _master_pid
        _master_pid = os.getppid()
        # Gunicorn answers what it refuses before the app (a request line over its limit, a broken
        # header) with an HTML page and has no hook for it: answer in the API's JSON error format.
        gunicorn_util.write_error = write_json_error
        return self.app_factory()


def write_json_error(sock, status_int, reason, mesg):
    """SPEC.md's error format for what the server itself refuses (never an HTML page)."""
    codes = {400: "bad_request", 414: "uri_too_long", 431: "headers_too_large", 501: "not_implemented"}
    body = json.dumps({"error": {"code": codes.get(status_int, "http_error"), "message": reason}}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    gunicorn_util.write_nonblock(sock, head + body)


class TurneroWorker(GeventWorker):
    """Gunicorn's gevent worker, with the request headers' deadline of ``[server]`` instead of the
    keep-alive time: a client that does not finish its headers in time (a half-sent request, or
    an idle keep-alive connection) is disconnected, and holds nothing."""

    header_timeout = 10.0

    def timeout_ctx(self):
        import gevent

        return gevent.Timeout(self.header_timeout, False)


class DeviceProcess:
    """The device process of turnero.web.devices, kept running by the Gunicorn master: started
    with it, started again if it dies (and on a reload: new settings), stopped with it."""

    def __init__(self, data_dir):
        self.command = [sys.executable, "-m", "turnero.web.devices", str(data_dir)]
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()

    def start(self, _server=None):
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        threading.Thread(target=self._watch, name="turnero-devices-watch", daemon=True).start()

    def restart(self, _server=None):
        if self.process is not None:
            self.process.terminate()  # the watcher starts the new one

    def stop(self, _server=None):
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def _watch(self):
        pause = 0.5
        while not self._stopping.wait(0.5):
            if self.process.poll() is None:
                continue
            # One that keeps dying at start (a broken printer library, say) is retried ever more slowly.
            if self._stopping.wait(pause):
                return
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
            if self._stopping.wait(2.0):
                return
            pause = 0.5 if self.process.poll() is None else min(pause * 2, 30.0)


def serve(app_factory, host: str, port: int, log_level: str = "info", server: dict | None = None,
          data_dir=None) -> None:
    """Run until stopped. ``app_factory`` is called in the worker (greenlets and sockets start there).
    ``server``: the ``[server]`` settings; ``data_dir``: also run the device process on it."""
    server = server or {"workers": 1, "header_timeout_seconds": 10}
    TurneroWorker.header_timeout = float(server["header_timeout_seconds"])
    hooks = {}
    if data_dir is not None:
        devices = DeviceProcess(data_dir)
        hooks = {"on_starting": devices.start, "on_reload": devices.restart, "on_exit": devices.stop}
    GunicornApp(app_factory, {**hooks,
        "bind": f"{host}:{port}", "workers": server["workers"], "worker_class": TurneroWorker,
        "worker_connections": WORKER_CONNECTIONS,
        "timeout": 0,  # WebSocket connections are long-lived; liveness is Socket.IO's ping
        # keep-alive on: Gunicorn reads headers under timeout_ctx only then
        "graceful_timeout": 5, "keepalive": server["header_timeout_seconds"], "loglevel": log_level,
        "accesslog": None,
        "errorlog": "-", "preload_app": False, "proc_name": "turnero",
        "control_socket_disable": True,  # several boxes (and tests) may run on one machine
        # The worker's heartbeat file is touched constantly: keep it in RAM, not on the SD card.
        **({"worker_tmp_dir": "/dev/shm"} if os.path.isdir("/dev/shm") else {}),
    }).run()


def can_reload() -> bool:
    """True inside ``turnero run``: the master can start a fresh worker with new settings."""
    return _master_pid is not None


def request_reload() -> None:
    """Ask the master for a fresh worker (Gunicorn's SIGHUP): it reads sede.toml again, and this
    worker finishes its requests and stops. Clients reconnect and catch up by ``seq``."""
    if _master_pid is None:
        raise RuntimeError("not running under turnero run")
    os.kill(_master_pid, signal.SIGHUP)
