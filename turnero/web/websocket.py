"""What an open WebSocket costs the gevent web worker: no greenlet, and a few small objects.

Engine.IO (python-engineio) on simple-websocket holds four greenlets for each open WebSocket: the
request's own, blocked until the socket closes; simple-websocket's reader; Engine.IO's writer;
and Engine.IO's ping task, sleeping out ``ping_interval``. Under Python 3.11 each parked greenlet
costs about 10 KB or more (its saved C stack, a chunk of frame stack, the Greenlet object).
simple-websocket also accepts the permessage-deflate every browser offers, and keeps a zlib
compressor for each connection: about 90 KB more for each phone. A hall of 1,000 status pages
cost ~160 MB.

Under ``turnero run`` (Gunicorn's gevent worker) :func:`install` leaves an idle WebSocket no
greenlet at all (about 12 KB in all):

- :class:`GeventWebSocket` is Engine.IO's WebSocket driver. Once the socket is open it lets the
  request's greenlet end and leaves the socket to the event loop (:meth:`GeventWebSocket.listen`):
  a greenlet is started when data arrives, hands each message to Engine.IO, and ends. (A socket
  upgraded from polling, rare since the box's pages open WebSocket first, is still read on its
  request's greenlet: see ``_websocket_handler``.) It declines compression (Socket.IO's messages
  are a few hundred bytes on the sede's LAN);
- packets are written by a greenlet started only while some wait (:meth:`GeventWebSocket.flush`),
  not by a writer parked for the socket's whole life;
- one greenlet sends every socket's ping (:class:`PingLoop`) instead of one per socket.

Checked against python-engineio 4.15.1 (``Socket.schedule_ping``/``_send_ping``, ``send``,
``close``, ``_websocket_handler``, the driver interface ``wait``/``send``/``close``, the ``_async`` table and
``WSGIApp.__call__``) and wsproto 1.3;
tests/test_websocket_memory.py holds the behaviour to it (pings, dead clients, closes, upgrades).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import socket
import time
from collections import deque
from contextlib import contextmanager

import engineio.exceptions
import engineio.socket
from engineio import packet
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from turnero.web.connections import HOLD_KEY

log = logging.getLogger(__name__)

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3
RECEIVE_BYTES = 4096
SOCKET_KEY, OUR_SOCKET_KEY = "gunicorn.socket", "turnero.socket"
SOCKET_PATH = "/socket.io/"


def install(app, eio) -> None:
    """Make the Engine.IO server ``eio`` (gevent mode, under Gunicorn) of the Flask ``app`` use the
    driver and the ping loop of this module. Engine.IO's ``Socket`` methods are replaced for the
    whole process (its one server); a socket on another driver keeps Engine.IO's own handling."""
    if not _checked_version():
        return
    socketio_app = app.wsgi_app

    def hand_over_socket(environ, start_response):
        # Engine.IO's WSGI middleware defines a class for each request that has a gunicorn.socket
        # (for eventlet), and a WebSocket keeps its instance, class and all, for its life: 2.5 KB.
        # It gets the socket under a name of ours instead.
        if SOCKET_KEY in environ and environ.get("PATH_INFO", "").startswith(SOCKET_PATH):
            environ[OUR_SOCKET_KEY] = environ.pop(SOCKET_KEY)
        return socketio_app(environ, start_response)

    app.wsgi_app = hand_over_socket
    eio._async = {**eio._async, "websocket": GeventWebSocket}
    eio.turnero_pings = PingLoop(eio)
    engineio.socket.Socket.schedule_ping = _schedule_ping
    engineio.socket.Socket.send = _send
    engineio.socket.Socket.close = _close
    engineio.socket.Socket._websocket_handler = _websocket_handler


CHECKED_ENGINEIO = ("4.15.",)  # the versions whose internals this module was read against


def _checked_version() -> bool:
    """A python-engineio this module was not checked against keeps its own handling: an upgrade
    then costs memory, never a broken socket."""
    from importlib.metadata import version

    found = version("python-engineio")
    if found.startswith(CHECKED_ENGINEIO):
        return True
    log.warning("python-engineio %s: not checked against turnero.web.websocket, using its own WebSocket "
                "handling (more memory per open socket)", found)
    return False


_engineio_schedule_ping = engineio.socket.Socket.schedule_ping
_engineio_send = engineio.socket.Socket.send
_engineio_websocket_handler = engineio.socket.Socket._websocket_handler
_engineio_close = engineio.socket.Socket.close


def _schedule_ping(self):
    """Engine.IO's ``Socket.schedule_ping`` (a ping ``ping_interval`` after the open or the last
    pong), without a greenlet of its own."""
    pings = getattr(self.server, "turnero_pings", None)
    if pings is None:  # a server install() was not called for
        return _engineio_schedule_ping(self)
    if self.last_ping:  # (as Engine.IO: only once the previous ping was answered)
        self.last_ping = None
        pings.add(self)


def _send(self, pkt):
    """Engine.IO's ``Socket.send`` (queue the packet), then have it written if the socket is on
    this module's WebSocket."""
    _engineio_send(self, pkt)
    ws = self.__dict__.get("turnero_ws")
    if ws is not None:
        ws.flush_soon(self)


def _close(self, wait=True, abort=False, reason=None):
    """Engine.IO's ``Socket.close``, and the connection ended once what was queued before it is
    written (Engine.IO ends the queue with None past ``send``, then waits for the queue's writer)."""
    ws = self.__dict__.get("turnero_ws")
    if ws is None:
        return _engineio_close(self, wait=wait, abort=abort, reason=reason)
    _engineio_close(self, wait=False, abort=abort, reason=reason)
    ws.flush_soon(self)
    if wait:
        self.queue.join()


def _websocket_handler(self, ws):
    """Engine.IO's ``Socket._websocket_handler`` without its writer greenlet (the packets are
    written by one started only while some wait: :meth:`GeventWebSocket.flush`) and without
    waiting for the socket's messages (each is read once it arrives: :meth:`GeventWebSocket.listen`).
    The rest is Engine.IO's: the probe of an upgrade from polling, then each message read handed
    to ``receive``, and the socket closed when the connection ends."""
    if not isinstance(ws, GeventWebSocket):
        return _engineio_websocket_handler(self, ws)
    upgrade = self.connected
    if upgrade:  # an upgrade from polling
        self.upgrading = True  # (packets wait in the queue meanwhile)
        probe = _decoded(ws.wait())
        if probe is None or probe.packet_type != packet.PING or probe.data != "probe":
            self.upgrading = False
            return []
        ws.send(packet.Packet(packet.PONG, data="probe").encode())
        self.queue.put(packet.Packet(packet.NOOP))  # ends the poll under way
        upgrade = _decoded(ws.wait())
        self.upgrading = False
        if upgrade is None or upgrade.packet_type != packet.UPGRADE:
            return []
    else:
        self.connected = True
    self.upgraded = True
    self.turnero_ws = ws
    ws.flush_soon(self)  # what was queued before
    if not upgrade:
        ws.listen(self)  # the messages from now on: read when they arrive, by a greenlet of their own
        return []
    # An upgraded socket (rare: the box's pages open WebSocket first) is read on the request's own
    # greenlet, as Engine.IO does: handed to the event loop, a client's reconnection after the
    # box was killed went missing (tests/test_soak.py), a cause not yet understood.
    while (pkt := _decoded(ws.wait())) is not None and _received(self, pkt):
        pass
    self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
    ws.close()
    return []


def _received(eio_socket, pkt) -> bool:
    """``pkt`` handed to Engine.IO, as its own handler does; False once the socket is over."""
    try:
        eio_socket.receive(pkt)
    except engineio.exceptions.UnknownPacketError:
        pass
    except engineio.exceptions.SocketIsClosedError:
        return False
    except Exception:
        log.exception("Engine.IO receive error")
        return False
    return True


def _decoded(message):
    """An Engine.IO packet, or None for the end of the connection (or a message that is not one)."""
    if message is None:
        return None
    try:
        return packet.Packet(encoded_packet=message)
    except Exception:
        return None


class _AtOnce:
    on = False


_at_once = _AtOnce()


@contextmanager
def written_at_once():
    """Packets sent within are written by their sender when the socket takes them at once. For
    a call's fan-out to the hall: a greenlet started for each of a few dozen displays cost more
    than its write, and the hall waited for them. Pings and status-page updates (a thousand at a
    time) keep their writer greenlets, which the requests interleave with. Nothing within may
    yield to another greenlet (an emit does not)."""
    _at_once.on = True
    try:
        yield
    finally:
        _at_once.on = False


class PingLoop:
    """Every socket's next ping, in one greenlet. Each is due ``ping_interval`` after it was added,
    so the queue is in order of due time and the loop only ever waits for its head. What it does
    when one is due is Engine.IO's ``Socket._send_ping``; Engine.IO's service task still closes
    the sockets whose ping goes unanswered for ``ping_timeout``."""

    YIELD_EVERY = 100  # pings sent before the loop lets the writers (and requests) run

    def __init__(self, server):
        self.server = server
        self.due: deque = deque()
        self.task = None

    def add(self, sock) -> None:
        self.due.append((time.monotonic() + self.server.ping_interval, sock))
        if self.task is None:  # (started in the worker, by its first client)
            self.task = self.server.start_background_task(self._run)

    def _run(self):
        sent = 0
        while True:
            # Empty, it may sleep a whole interval: nothing added meanwhile is due any sooner.
            wait = self.due[0][0] - time.monotonic() if self.due else self.server.ping_interval
            if wait > 0:
                self.server.sleep(wait)
                continue
            _, sock = self.due.popleft()
            try:
                if not sock.closing and not sock.closed:
                    sock.last_ping = time.time()
                    sock.send(packet.Packet(packet.PING))
            except Exception:  # one socket's failure must not stop everyone's pings
                log.exception("ping failed")
            sent += 1
            if sent % self.YIELD_EVERY == 0:
                self.server.sleep(0)


class GeventWebSocket:
    """Engine.IO's WebSocket driver interface (``wait``, ``send``, ``close``) on Gunicorn's socket,
    framed by wsproto. ``wait`` reads on the calling greenlet, the request's own; ``send`` and
    ``close`` come from Engine.IO's writer."""

    def __init__(self, handler, server):
        self.app = handler
        self.server = server

    def __call__(self, environ, start_response):
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        try:
            valid = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid = False
        if not valid or environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13":
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"Invalid WebSocket handshake"]
        accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + ACCEPT_GUID).digest())
        # Gunicorn closes its socket once this request returns, which is right after the handshake
        # (see listen): the connection goes on, on a descriptor of our own.
        self._sock = environ[OUR_SOCKET_KEY].dup()
        self.environ = environ
        self.reading = None
        # (as Engine.IO's own handler does) a peer gone without a word ends its read, and a stuck
        # write, by itself, even before the service task misses its pong
        self._sock.settimeout(self.server.ping_interval + self.server.ping_timeout)
        # No Sec-WebSocket-Extensions: compression is declined (see the module docstring).
        self._sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.connection = Connection(ConnectionType.SERVER)
        self.received: deque = deque()
        self.partial = None
        from gevent.lock import Semaphore

        self.writing = Semaphore()  # a pong or a close reply from the reader amid the writer's frames
        self.flushing = False
        try:
            self.app(self)
        finally:
            if self.reading is None:  # (the handshake or an upgrade failed: the connection ends here)
                self._sock.close()
        # Gunicorn: the response was the WebSocket itself; ends the request without writing one.
        raise StopIteration()

    def listen(self, eio_socket) -> None:
        """Hand the reading over to the event loop, and let the request's greenlet end: an open
        WebSocket then holds no greenlet (a parked one keeps its saved C stack and a chunk of
        frame stack, about 20 KB). When data arrives, a greenlet is started to read it and hand
        each message to Engine.IO, and ends. The connection guard's count of this connection
        (turnero.web.connections) is taken over, and given back when the connection ends."""
        from gevent import get_hub

        self.eio_socket = eio_socket
        slot = self.environ.get(HOLD_KEY)
        self.release = slot.take() if slot is not None else None
        self.environ = None
        self.reading = get_hub().loop.io(self._sock.fileno(), 1)
        if self.received:  # (came in with the upgrade's last packet)
            self.server.start_background_task(self._serve)
        else:
            self.reading.start(self._readable)

    def _readable(self) -> None:
        # (called by the event loop itself, which must never wait: the work is a greenlet's)
        self.reading.stop()
        self.server.start_background_task(self._serve)

    def _serve(self) -> None:
        """What arrived: each message handed to Engine.IO; then wait for more, or end."""
        try:
            data = self._sock.recv(RECEIVE_BYTES)
        except OSError:
            data = b""
        going_on = bool(data) and self._take(data)
        while self.received:
            pkt = _decoded(self.received.popleft())
            if pkt is None:
                going_on = False
                break
            if not _received(self.eio_socket, pkt):
                going_on = False
                break
        if going_on:
            self.reading.start(self._readable)  # (a close from our side ends the read: see close)
        else:
            self._end()

    def _end(self) -> None:
        """The connection ended: Engine.IO's socket is closed (as its own handler does), then ours."""
        self.reading.close()
        eio_socket = self.eio_socket
        eio_socket.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        if self.server.sockets.get(eio_socket.sid) is eio_socket:  # (else the service task's, later)
            del self.server.sockets[eio_socket.sid]
        self.close()
        self._sock.close()
        if self.release is not None:
            self.release, release = None, self.release
            release()

    def flush_soon(self, eio_socket) -> None:
        """Have what waits in Engine.IO's queue written by a writer greenlet (:meth:`flush`), or,
        within :func:`written_at_once`, right away by the sender when the socket takes all of it
        at once, as it nearly always does (a few hundred bytes into the kernel's buffer). What
        must wait (a client slow to read, a reply to its ping being written, the socket closing)
        is left to the writer: the sender (the event pump, a request) never waits for a client."""
        if self.flushing:
            return
        self.flushing = True
        if not _at_once.on:
            self.server.start_background_task(self.flush, eio_socket)
            return
        messages, closed = self._waiting(eio_socket)
        try:
            rest = b"".join(self.connection.send(_message(each)) for each in messages)
        except LocalProtocolError:  # (the WebSocket is closing: nothing more goes out)
            rest, closed = b"", True
        if rest and not closed and self.writing.acquire(blocking=False):
            try:
                rest = rest[self._sock.send(rest, 0, 0.0):]  # (timeout 0: raises rather than waits)
            except BlockingIOError:
                pass
            except OSError:  # the peer is gone: end the socket (its reading notices)
                rest, closed = b"", True
            finally:
                self.writing.release()
        if rest or closed:
            self.server.start_background_task(self.flush, eio_socket, rest, closed)
        else:
            self.flushing = False

    def flush(self, eio_socket, rest: bytes = b"", closed: bool = False) -> None:
        """Engine.IO's writer, for as long as packets wait (after ``rest``, the frames that
        :meth:`flush_soon` could not write at once): a client slow to read holds this greenlet,
        never the one that sent. The packets waiting are written in one send: the events of one
        commit (a call and its counter) reach each display in one system call."""
        try:
            writable = self._write(raw=rest) if rest else True
            while not closed:
                messages, closed = self._waiting(eio_socket)
                if messages and writable and not (writable := self._write(*map(_message, messages))):
                    self.close()  # the peer is gone: its reading notices and ends the socket
                if not messages:
                    break
            if closed:
                self.close()
        finally:
            self.flushing = False

    def _waiting(self, eio_socket) -> tuple[list, bool]:
        """The packets in Engine.IO's queue, encoded; and whether the socket was closed after them."""
        queue, empty = eio_socket.queue, self.server.get_queue_empty_exception()
        messages = []
        while True:
            try:
                pkt = queue.get(block=False)
            except empty:
                return messages, False
            queue.task_done()  # (Engine.IO's close(wait=True) joins the queue)
            if pkt is None:  # the socket was closed: after its last packets, the connection
                return messages, True
            messages.append(pkt.encode())

    def wait(self):
        """The next message, or None once the connection is closed, read on the calling greenlet:
        the request's own, for an upgrade's probe and, after it, for the whole life of a socket
        upgraded from polling (a socket opened as WebSocket is read by :meth:`listen` instead)."""
        while not self.received:
            if self.connection.state is not ConnectionState.OPEN:
                return None
            try:
                data = self._sock.recv(RECEIVE_BYTES)
            except OSError:  # socket.timeout included
                data = b""
            if not data or not self._take(data):
                return None
        return self.received.popleft()

    def _take(self, data: bytes) -> bool:
        """Frame what was read: whole messages join ``received``, a ping is answered. False once
        the connection is over (a close, or a message over Engine.IO's size limit)."""
        self.connection.receive_data(data)
        for event in self.connection.events():
            if isinstance(event, Message):
                self.partial = event.data if self.partial is None else self.partial + event.data
                if len(self.partial) > self.server.max_http_buffer_size:
                    self._write(CloseConnection(CloseReason.MESSAGE_TOO_BIG))
                    return False
                if event.message_finished:
                    self.received.append(self.partial)
                    self.partial = None
            elif isinstance(event, Ping):
                self._write(event.response())
            elif isinstance(event, CloseConnection):
                self._write(event.response())
                return False
        return True

    def send(self, message):
        if not self._write(_message(message)):
            raise OSError("WebSocket closed")

    def close(self):
        if self.connection.state is ConnectionState.OPEN:
            self._write(CloseConnection(CloseReason.NORMAL_CLOSURE))
        try:
            # Ends the reading (the socket turns readable, at its end), even if the peer never
            # answers the close.
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self, *events, raw: bytes = b"") -> bool:
        """``raw`` (frames already made) then ``events``, in order, however long the client takes."""
        with self.writing:
            try:
                data = raw + b"".join(self.connection.send(event) for event in events)
                # A few frames fit the socket's buffer at once: one send, without the buffer-size
                # query and chunking of gevent's sendall (kept for what did not fit).
                sent = self._sock.send(data)
                if sent < len(data):
                    self._sock.sendall(memoryview(data)[sent:])
                return True
            except (OSError, LocalProtocolError):
                return False


def _message(message):
    return TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
