"""Socket.IO: rooms, and the one event path from committed rows to connected clients.

The :class:`EventPump` reads committed events from the database in ``seq`` order and pushes each
to its rooms, so a transition made by another thread, or by a CLI command in another process,
reaches clients in order and exactly as stored. Rooms:

- ``staff``: every event, staff view;
- ``board`` and ``board:<SERVICE>``: displays (all services, or a filter), without personal data;
- ``public:<public_id>``: the public status page of one ticket, public view only.

Every message of the default namespace is an event ``{"seq","type","at","data"}`` (SPEC.md). Device
state that is not an event (the printer's health, a slip printed or failed) goes to the separate
:data:`PRINTER_NAMESPACE`, which only staff may join: ``print.status`` ``{"ticket_id", "code",
"print": {"status"}, "detail"?, "retry"?}`` and ``printer.status`` (the printer's health).
"""
from __future__ import annotations

import logging
import threading
import time

from flask import session
from flask_socketio import ConnectionRefusedError, SocketIO, join_room

from turnero import audiences
from turnero.web.auth import device_token
from turnero.web.websocket import written_at_once

log = logging.getLogger(__name__)

PRINTER_NAMESPACE = "/printer"


class EventPump:
    POLL_SECONDS = 0.5  # picks up events committed by other processes (the CLI)
    ESTIMATE_SECONDS = 0.25  # at most this often, the queue's forecast is made again after it moved
    # At most this often, status pages are told their new place and wait (a call moves every page
    # in its queue: a thousand messages). A page's own ticket being called is pushed at once.
    PAGES_SECONDS = 1.0

    def __init__(self, engine, socketio: SocketIO):
        self.engine = engine
        self.socketio = socketio
        self.last_seq = engine.last_seq()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._moved = False
        self._estimated_at = 0.0
        self._pages_due = False
        self._told_at = 0.0
        self._sent: dict = {}  # public id -> what its status page was last told of its place and wait
        engine.store.on_commit(lambda events: self._wake.set())

    def wake(self):
        """Events were committed by another process (another web worker): read them now."""
        self._wake.set()

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="turnero-event-pump", daemon=True)
            self._thread.start()

    def stop(self):
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self):
        while not self._stop.is_set():
            # (woken again to make the forecast once the throttle allows, if the queue moved meanwhile)
            self._wake.wait(self.ESTIMATE_SECONDS if self._moved or self._pages_due else self.POLL_SECONDS)
            self._wake.clear()
            try:
                self.step()
            except Exception:  # a failed push must never stop the pump; clients catch up by seq
                log.exception("event pump failed")

    def step(self) -> None:
        """One wake-up: push what was committed, then, as their throttles allow, make the queue's
        forecast and tell the status pages."""
        self.pump()
        if self._moved and time.monotonic() - self._estimated_at >= self.ESTIMATE_SECONDS:
            self.make_forecast()
        if self._pages_due and time.monotonic() - self._told_at >= self.PAGES_SECONDS:
            self.tell_pages()

    def pump(self) -> int:
        """Push every committed event after ``last_seq``; returns how many were pushed."""
        pushed = 0
        while True:
            events = self.engine.events_after(self.last_seq, 500)
            if not events:
                return pushed
            for event in events:
                self.publish(event)
                self.last_seq = event["seq"]
                pushed += 1
            self._moved = True

    def publish(self, event: dict):
        """One event to each room, as that room's audience may receive it (turnero.audiences):
        the staff feed carries no personal data (consoles read it, recorded, from the API)."""
        payload = self.engine.views.event(event)
        data = event["data"]
        tickets = [data[key] for key in ("ticket", "from", "to") if isinstance(data.get(key), dict)]
        if tickets:
            board_rooms = ["board"] + sorted({f"board:{ticket['service']}" for ticket in tickets})
        else:  # a counter event concerns every display, filtered or not (as /api/v1/events does)
            board_rooms = ["board"] + [f"board:{code}" for code in self.engine.settings.services]
        staff, hall = audiences.without_personal(payload, audiences.nothing), audiences.hall_event(payload)
        with written_at_once():  # (the hall and the consoles hear it now)
            self.socketio.emit(event["type"], staff, to="staff")
            self.socketio.emit(event["type"], hall, to=board_rooms)
        if "ticket" in data and "public_id" in data["ticket"]:
            self.socketio.emit("ticket.status", {"seq": event["seq"], "type": event["type"],
                                                 "ticket": self.engine.views.public_ticket(data["ticket"])},
                               to=f"public:{data['ticket']['public_id']}")

    def refresh_estimates(self) -> int:
        """After the queue moved: make its forecast, and tell the status pages. Returns how many
        pages were told."""
        self.make_forecast()
        return self.tell_pages()

    def make_forecast(self) -> None:
        """The queue's forecast, made off the path of the next ticket issued (which finds it made)."""
        self._moved = False
        self._pages_due = True
        self._estimated_at = time.monotonic()
        self.engine.warm_estimates(pause=self._pause)

    def tell_pages(self) -> int:
        """Tell each status page someone is looking at whose waiting ticket's place or wait
        changed. Returns how many pages were told."""
        self._pages_due = False
        self._told_at = time.monotonic()
        watched = self._public_rooms()
        self._sent = {public_id: seen for public_id, seen in self._sent.items() if public_id in watched}
        if not watched:
            return 0
        told = 0
        # (plain pauses here: a call pushed amid this round would then be followed by its page's
        # older place, computed before it)
        for public_id, ticket in self.engine.public_waiting(watched, pause=_let_others_run).items():
            seen = (ticket["position"], ticket["eta_minutes"], repr(ticket["eta_range_minutes"]))
            if self._sent.get(public_id) == seen:
                continue
            self._sent[public_id] = seen
            self.socketio.emit("ticket.status", {"seq": self.last_seq, "type": "queue.moved", "ticket": ticket},
                               to=f"public:{public_id}")
            told += 1
            if told % 50 == 0:
                _let_others_run()
        return told

    def _pause(self) -> None:
        """Within the forecast: let the requests run, and push what was committed meanwhile first
        (a call reaches the hall now, not after the forecast)."""
        _let_others_run()
        if self._wake.is_set():
            self._wake.clear()
            self.pump()

    def _public_rooms(self) -> set:
        """Public ids whose status page is connected to this process."""
        rooms = self.socketio.server.manager.rooms.get("/", {})
        for _ in range(3):
            try:
                return {room[7:] for room in list(rooms) if isinstance(room, str) and room.startswith("public:")}
            except RuntimeError:  # a client joined or left meanwhile
                continue
        return set()


def _let_others_run() -> None:
    """Under gevent the pump is a greenlet: a long forecast or a hall of status pages to tell must
    let the requests in between (sleep(0) yields to them; in threading mode it is nearly free)."""
    time.sleep(0)


def async_mode() -> str:
    """gevent inside ``turnero run`` (its worker patched the standard library), else threading."""
    try:
        from gevent import monkey
    except ImportError:
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def init_app(app, box) -> SocketIO:
    """Bind a Socket.IO server to ``app`` (gevent under `turnero run`, else threading) and register
    its handlers."""
    socketio = SocketIO()
    # With several workers a client's requests land on any of them: an Engine.IO polling session
    # lives in one, so only WebSocket (one connection, one worker) can work.
    transports = ["websocket"] if box.settings.server["workers"] > 1 else ["polling", "websocket"]
    socketio.init_app(app, async_mode=async_mode(), manage_session=False, transports=transports)
    if async_mode() == "gevent":  # an idle WebSocket holds no greenlet (turnero.web.websocket)
        from turnero.web import websocket

        websocket.install(app, socketio.server.eio)

    def principal_of(auth: dict):
        device = auth.get("device") if isinstance(auth.get("device"), str) else None
        token = auth.get("token") or session.get("token") or device_token(device)
        return box.accounts.authenticate(token, box.engine.clock()) if token else None

    @socketio.on("connect")
    def on_connect(auth):
        auth = auth if isinstance(auth, dict) else {}
        principal = principal_of(auth)
        if principal is None:
            public_id = auth.get("public_id")
            if isinstance(public_id, str) and public_id and len(public_id) < 64:
                join_room(f"public:{public_id}")
                return True
            raise ConnectionRefusedError("unauthorized")
        if principal.role == "display":
            services = principal.get("services") or []
            for room in ([f"board:{code}" for code in services] or ["board"]):
                join_room(room)
        elif principal.has("staff"):
            join_room("staff")
        else:
            join_room("board")  # a kiosk sees queue changes like a display: no personal data
        return True

    @socketio.on("connect", namespace=PRINTER_NAMESPACE)
    def on_printer_connect(auth):
        principal = principal_of(auth if isinstance(auth, dict) else {})
        if principal is None or not principal.has("staff"):
            raise ConnectionRefusedError("unauthorized")
        join_room("staff", namespace=PRINTER_NAMESPACE)
        return True

    return socketio
