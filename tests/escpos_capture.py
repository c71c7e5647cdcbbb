"""A fake ESC/POS network printer for tests and benchmarks: a real TCP server on 127.0.0.1.

It keeps every byte each connection sends and answers DLE EOT status queries like a printer in
the chosen ``mode``: ``online``, ``near_end``, ``paper_out``, ``offline``, or ``silent`` (accepts
the connection, reads, never answers: the printer that hangs).
"""
from __future__ import annotations

import re
import socket
import threading

DLE_EOT = b"\x10\x04"
# DLE EOT n replies (Epson): fixed bits 0x12; n=1 bit 3 = offline; n=4 bits 2-3 near end, 5-6 out.
REPLIES = {
    "online": {1: 0x12, 4: 0x12},
    "near_end": {1: 0x12, 4: 0x1E},
    "paper_out": {1: 0x12, 4: 0x72},
    "offline": {1: 0x1A, 4: 0x12},
}


class CaptureServer:
    def __init__(self, mode: str = "online"):
        self.mode = mode
        self.jobs: list[bytes] = []  # one entry per closed connection
        self.job_last_byte: list[float | None] = []  # perf_counter() of each job's last byte
        self.connected = threading.Event()
        self.last_byte_at: float | None = None
        self.closed_connections = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._job_done = threading.Condition(self._lock)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._open.append(conn)
            self.connected.set()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        import time

        data = bytearray()
        scanned = 0
        last_byte = None
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                last_byte = self.last_byte_at = time.perf_counter()
                while True:
                    index = data.find(DLE_EOT, scanned)
                    if index < 0 or index + 2 >= len(data):
                        break
                    scanned = index + 3
                    reply = REPLIES.get(self.mode, {}).get(data[index + 2])
                    if reply is not None:
                        conn.sendall(bytes([reply]))
        except OSError:
            pass
        finally:
            conn.close()
            with self._job_done:
                if conn in self._open:
                    self._open.remove(conn)
                self.jobs.append(bytes(data))
                self.job_last_byte.append(last_byte)
                self.closed_connections += 1
                self._job_done.notify_all()

    def wait_jobs(self, count: int, timeout: float = 10) -> list[bytes]:
        with self._job_done:
            self._job_done.wait_for(lambda: len(self.jobs) >= count, timeout)
            return list(self.jobs)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def drop_open(self):
        """Close every open connection (releases a client stuck on a silent printer)."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def printed(self) -> list[bytes]:
        """Captured connections that carried more than status queries."""
        return [job for job in self.jobs if len(job.replace(b"\x10\x04\x01", b"").replace(b"\x10\x04\x04", b"")) > 0]

    def reset(self, mode: str | None = None):
        with self._lock:
            self.jobs.clear()
            self.job_last_byte.clear()
            self.connected.clear()
            if mode:
                self.mode = mode

    def close(self):
        self._stop.set()
        self._server.close()
        self.drop_open()


def qr_payloads(data: bytes) -> list[bytes]:
    """Contents stored with GS ( k cn=49 fn=80 (QR: store data)."""
    out = []
    for match in re.finditer(rb"\x1d\(k(..)1P0", data, re.S):
        length = match.group(1)[0] + 256 * match.group(1)[1] - 3
        out.append(data[match.end():match.end() + length])
    return out
