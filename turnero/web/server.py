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
import sys
import threading
import time

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.ggevent import GeventWorker

from turnero.web import reload

WORKER_CONNECTIONS = 20000  # what one worker accepts; the app's own caps answer long before


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
        reload.master_pid = os.getppid()
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


# What the web worker and the device process both import, imported once in the master before
# either is forked: the pages of code they share stay shared (copy-on-write), so the box's memory
# counts them once. Only imports: nothing here starts a thread or opens a file, and gevent patches
# the worker after its fork as usual (these modules look up threading and socket when called;
# werkzeug's and jinja2's import-time Lock guard code that never yields).
SHARED_MODULES = ("turnero.web.app", "turnero.web.devices", "escpos.printer", "PIL.Image", "PIL.ImageDraw",
                  "qrcode", "requests", "sync", "printers", "display", "kiosk", "counter", "admin")


def import_shared_modules() -> None:
    import gc
    import importlib

    for name in SHARED_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # the collector would otherwise write to every shared object it scans


class DeviceProcess:
    """The device process of turnero.web.devices, kept running by the Gunicorn master: forked
    from it (so it shares the master's imported code) before the workers, forked again if it dies
    (and on a reload: new settings), stopped with it."""

    TITLE = b"turnero-devices"  # its name in ps and top (/proc/<pid>/comm; at most 15 bytes)

    def __init__(self, data_dir):
        self.data_dir = str(data_dir)
        self.pid: int | None = None
        self._stopping = threading.Event()

    def start(self, _server=None):
        self.pid = self._fork()
        threading.Thread(target=self._watch, name="turnero-devices-watch", daemon=True).start()

    def restart(self, _server=None):
        self._signal(signal.SIGTERM)  # the watcher forks the new one

    def stop(self, _server=None):
        self._stopping.set()
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(signal.SIGKILL)

    def running(self) -> bool:
        """Gunicorn's master reaps every child it has, ours included: one it reaped is gone."""
        if self.pid is None:
            return False
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def _signal(self, signum):
        if self.pid is not None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def _fork(self) -> int:
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            # Gunicorn's handlers (and its signal pipe) are the master's, not this process's.
            for signum in (signal.SIGHUP, signal.SIGQUIT, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD,
                           signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
                signal.signal(signum, signal.SIG_DFL)
            _set_process_name(self.TITLE)
            from turnero.web import devices

            code = devices.main([self.data_dir])
        except BaseException:  # noqa: BLE001 - whatever it was, this process must not return into Gunicorn
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _watch(self):
        pause = 0.5
        while not self._stopping.wait(0.5):
            if self.running():
                continue
            # One that keeps dying at start (a broken printer library, say) is retried ever more slowly.
            if self._stopping.wait(pause):
                return
            self.pid = self._fork()
            if self._stopping.wait(2.0):
                return
            pause = 0.5 if self.running() else min(pause * 2, 30.0)


def _set_process_name(name: bytes) -> None:
    """Linux's name of this process (``comm``), so that ps, top and the tests tell it from the
    master it was forked from."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def serve(app_factory, host: str, port: int, log_level: str = "info", server: dict | None = None,
          data_dir=None) -> None:
    """Run until stopped. ``app_factory`` is called in the worker (greenlets and sockets start there).
    ``server``: the ``[server]`` settings; ``data_dir``: also run the device process on it."""
    server = server or {"workers": 1, "header_timeout_seconds": 10}
    TurneroWorker.header_timeout = float(server["header_timeout_seconds"])
    hooks = {}
    if data_dir is not None:
        import_shared_modules()
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
