"""The device process: the printer, the voice and the sync work apart from the web worker(s).

Printing a slip, synthesizing a phrase and building a sync batch take CPU right after the
request that caused them; in the web worker they would delay the next request (a 2-core box
runs one Python thread at a time per process). So ``turnero run`` starts one *device process*
beside Gunicorn's worker(s): the same app built with ``DEVICE_HOST`` (its parts make their real
workers: print worker, announcer, sync, day watcher) and no web server. A web worker built with
``DEVICES`` holds a :class:`DevicesClient` instead; each part then uses ``box.devices.part(name)``
where it would have used its own worker.

They talk over a UNIX socket in the data directory (``devices.sock``), in JSON lines:

- web -> devices ``{"committed": true}``: the worker just committed events. The device process
  reads the committed events from the database in ``seq`` order, as the event pump does (one
  event path: the committed row; commits of the CLI are heard too, within a second), and hands
  them to its own commit listeners (a slip to print, a call to say, a batch to send). It tells the
  other workers ``{"wake": true}``: each worker's event pump reads the committed events and pushes
  them to its own sockets (turnero.web.realtime), so the news of a call made through one worker
  reaches the displays connected to another at once;
- web -> devices ``{"id", "part", "call", "args", "kwargs"}``; devices -> web ``{"id", "ok"}`` or
  ``{"id", "error": {"code", "message", "status"}}`` (a :class:`DomainError`) or ``{"id", "fail"}``;
- devices -> web ``{"push": [name, payload, namespace]}``: a device's news for staff consoles
  (a slip printed or failed), sent to every worker, each emitting it to its own sockets.

Several web workers (``[server] workers``) share the one device process, so a slip is printed
and a phrase said once.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

from turnero.errors import DomainError
from turnero.periodic import Periodic

log = logging.getLogger(__name__)
SOCKET_NAME = "devices.sock"
CONNECT_WAIT_SECONDS = 20  # the device process starts beside the worker; a first call may wait for it


def socket_path(data_dir) -> Path:
    return Path(data_dir) / SOCKET_NAME


# ---------------------------------------------------------------------------------- web side

class DevicesClient:
    """A web worker's line to the device process. Safe from any thread or greenlet."""

    def __init__(self, data_dir, on_push=None, on_wake=None):
        self.path = str(socket_path(data_dir))
        self.on_push = on_push or (lambda name, payload, namespace: None)
        self.on_wake = on_wake or (lambda: None)
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, list] = {}  # id -> [Event, answer]
        self._closed = False

    def part(self, name: str) -> "RemotePart":
        return RemotePart(self, name)

    def forward(self, events: list[dict]) -> None:
        """Store listener: the device process hears that this worker committed (never raises)."""
        try:
            self._send({"committed": True}, wait=0)
        except OSError:
            pass  # the device process catches up on its own (the spool and the sync read the database)

    def call(self, part: str, method: str, *args, timeout: float = 10.0, **kwargs):
        request_id = next(self._ids)
        done = threading.Event()
        self._waiting[request_id] = [done, None]
        try:
            try:
                self._send({"id": request_id, "part": part, "call": method, "args": args, "kwargs": kwargs},
                           wait=CONNECT_WAIT_SECONDS)
            except OSError as exc:
                raise DomainError("devices_unavailable", f"El proceso de dispositivos no responde ({exc}).",
                                  503) from None
            if not done.wait(timeout):
                raise DomainError("devices_unavailable", "El proceso de dispositivos no respondió a tiempo.", 503)
            answer = self._waiting[request_id][1]
        finally:
            self._waiting.pop(request_id, None)
        if "error" in answer:
            error = answer["error"]
            raise DomainError(error["code"], error["message"], error["status"], **(error.get("details") or {}))
        if "fail" in answer:
            raise DomainError("devices_failed", answer["fail"], 503)
        return answer["ok"]

    def close(self) -> None:
        self._closed = True
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _send(self, message: dict, wait: float) -> None:
        line = (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        sock = self._connected(wait)
        try:
            with self._send_lock:
                sock.sendall(line)
        except OSError:
            self._drop(sock)
            raise

    def _connected(self, wait: float) -> socket.socket:
        deadline = time.monotonic() + wait
        with self._connect_lock:
            while self._sock is None:
                if self._closed:
                    raise OSError("closed")
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(self.path)
                except OSError:
                    sock.close()
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.05)
                    continue
                self._sock = sock
                threading.Thread(target=self._read, args=(sock,), name="turnero-devices-reader",
                                 daemon=True).start()
            return self._sock

    def _drop(self, sock) -> None:
        if self._sock is sock:
            self._sock = None
        try:
            sock.close()
        except OSError:
            pass
        for entry in list(self._waiting.values()):  # their answers will not come
            if entry[1] is None:
                entry[1] = {"fail": "the device process went away"}
                entry[0].set()

    def _read(self, sock) -> None:
        stream = sock.makefile("rb")
        try:
            for line in stream:
                message = json.loads(line)
                if "wake" in message:
                    self.on_wake()
                    continue
                if "push" in message:
                    try:
                        self.on_push(*message["push"])
                    except Exception:  # noqa: BLE001 - a failed emit must not stop the reader
                        log.exception("device push failed")
                    continue
                entry = self._waiting.get(message.get("id"))
                if entry is not None:
                    entry[1] = message
                    entry[0].set()
        except (OSError, ValueError):
            pass
        self._drop(sock)


class RemotePart:
    """A part's worker in the device process: ``remote.health()`` is a call over the socket."""

    def __init__(self, client: DevicesClient, name: str):
        self._client = client
        self._name = name

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args, timeout: float = 10.0, **kwargs):
            return self._client.call(self._name, method, *args, timeout=timeout, **kwargs)

        return call


# ------------------------------------------------------------------------------ device side

class DeviceHost:
    """Serves the parts' workers of ``app`` (built with ``DEVICE_HOST``) on the socket."""

    def __init__(self, app):
        self.app = app
        self.box = app.extensions["turnero"]
        self.path = socket_path(self.box.data_dir)
        self._clients: list[tuple] = []  # (socket, its send lock)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._committed = threading.Event()
        self.last_seq = self.box.engine.last_seq()  # events before the process started were heard then

    def push(self, name: str, payload: dict, namespace: str) -> None:
        """To every connected worker, which emits it to its own sockets."""
        self._broadcast({"push": [name, payload, namespace]})

    def _broadcast(self, message: dict, skip=None) -> None:
        line = (json.dumps(message, ensure_ascii=False) + "\n").encode()
        with self._lock:
            clients = [(client, lock) for client, lock in self._clients if client is not skip]
        for client, lock in clients:
            try:
                with lock:
                    client.sendall(line)
            except OSError:
                continue

    def relay(self) -> None:
        """Hand the events committed elsewhere to this process's commit listeners, in order
        (on a thread of its own; woken by the web workers, and every second for the CLI's)."""
        while not self._stop.is_set():
            self._committed.wait(1.0)
            self._committed.clear()
            try:
                while events := self.box.engine.events_after(self.last_seq, 500):
                    self.last_seq = events[-1]["seq"]
                    self.box.store.announce(events)
            except Exception:  # noqa: BLE001 - the relay must outlive any hiccup; it reads again
                log.exception("device relay failed")

    def serve_forever(self) -> None:
        threading.Thread(target=self.relay, name="turnero-devices-relay", daemon=True).start()
        self.path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        os.chmod(self.path, 0o600)  # only the service user may ask for a test print
        server.listen(64)
        server.settimeout(0.5)
        while not self._stop.is_set():
            try:
                client, _ = server.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self._serve, args=(client,), name="turnero-devices-client", daemon=True).start()
        server.close()
        self.path.unlink(missing_ok=True)

    def stop(self) -> None:
        self._stop.set()

    def _serve(self, client: socket.socket) -> None:
        send_lock = threading.Lock()
        with self._lock:
            self._clients.append((client, send_lock))
        try:
            for line in client.makefile("rb"):
                message = json.loads(line)
                if "committed" in message:
                    self._broadcast({"wake": True}, skip=client)
                    self._committed.set()
                elif "id" in message:
                    # Calls may wait (an announcement being synthesized): each has its own thread.
                    threading.Thread(target=self._answer, args=(client, send_lock, message), daemon=True).start()
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._clients.remove((client, send_lock))
            client.close()

    def _answer(self, client, send_lock, message) -> None:
        try:
            if str(message["call"]).startswith("_"):
                raise ValueError("only a part's public methods are served")
            target = self.box.parts[message["part"]]
            answer = {"id": message["id"], "ok": getattr(target, message["call"])(*message["args"],
                                                                                  **message["kwargs"])}
        except DomainError as error:
            answer = {"id": message["id"], "error": {"code": error.code, "message": error.message,
                                                     "status": error.status, "details": error.details}}
        except Exception as error:  # noqa: BLE001 - answered, logged; the process goes on
            log.exception("device call %s.%s failed", message.get("part"), message.get("call"))
            answer = {"id": message["id"], "fail": f"{type(error).__name__}: {error}"}
        line = (json.dumps(answer, ensure_ascii=False, default=str) + "\n").encode()
        try:
            with send_lock:
                client.sendall(line)
        except OSError:
            pass


class Checkpointer(Periodic):
    """Copies the WAL into the database every second (PASSIVE: it waits for no reader or writer),
    for the web workers, whose commits do not (turnero.store.Store ``checkpoints``)."""

    name = "turnero-checkpoints"

    def __init__(self, store, interval: float = 1.0):
        super().__init__(interval)
        self.store = store

    def tick(self):
        try:
            self.store.checkpoint("PASSIVE")
        except sqlite3.Error as exc:
            log.warning("checkpoint failed: %s", exc)


def main(argv: list[str]) -> int:
    """The device process's life: forked by ``turnero run``'s master (turnero.web.server.DeviceProcess)."""
    import signal

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [devices] %(levelname)s %(message)s")
    # Behind the web worker for the CPU: a request answered now matters more than a slip drawn
    # a millisecond sooner (its children, the synthesis worker and the preview maker, go lower still).
    os.nice(5)
    from turnero.web.app import create_app

    app = create_app({"DATA_DIR": argv[0], "DEVICE_HOST": True})
    box = app.extensions["turnero"]
    host = box.host
    checkpoints = Checkpointer(box.store)
    checkpoints.start()
    box.workers.append(checkpoints)
    signal.signal(signal.SIGTERM, lambda *_: host.stop())
    signal.signal(signal.SIGINT, lambda *_: host.stop())
    try:
        host.serve_forever()
    finally:
        app.extensions["turnero"].stop()
    return 0
