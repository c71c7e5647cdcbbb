"""The sede's SQLite database: connections, durable settings, migrations, write transactions.

Only this module opens the database. Every write goes through :meth:`Store.write`, one
``BEGIN IMMEDIATE`` transaction, and events are appended inside it (``seq`` has no gaps because
``INTEGER PRIMARY KEY`` rows are only ever appended, inside the writing transaction). A write that
appends events, or that is handed an action's audit entry, also appends one audit row covering
those events (:mod:`turnero.audit`), in the same transaction.

Each database has an identity, its *epoch* (a UUID made with it and renewed by a restore): the
central side keeps events per ``(sede, epoch, seq)``.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
import weakref
from contextlib import contextmanager
from pathlib import Path

from turnero import audit as audit_trail
from turnero.migrations import BOX_IDENTITY, MIGRATIONS

DB_FILE = "turnero.db"
BUSY_TIMEOUT_SECONDS = 30  # how long a writer waits for another process's write lock
FREE_CONNECTIONS = 32  # released connections kept open for the requests under way at once (~140 KB each)
SPIN_SECONDS = 0.005  # first, retry the lock without sleeping for this long


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced: when its thread ends, it is closed and freed
    (request and WebSocket threads come and go for days)."""


class Transaction:
    """A write transaction: the connection plus the events appended so far."""

    def __init__(self, conn: sqlite3.Connection, now: float):
        self.conn = conn
        self.now = now
        self.events: list[dict] = []

    def execute(self, sql: str, params=()):
        return self.conn.execute(sql, params)

    def one(self, sql: str, params=()):
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params=()):
        return self.conn.execute(sql, params).fetchall()

    def bump(self, key: str) -> None:
        """Add one to the version counter ``key`` in ``kv`` (1 the first time): the other processes
        of the box read it with :meth:`Store.counter` and reload what it versions."""
        self.conn.execute("INSERT INTO kv (key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET "
                          "value = CAST(value AS INTEGER) + 1", (key,))

    def append_event(self, event_type: str, data: dict) -> dict:
        event_id = str(uuid.uuid4())
        cursor = self.conn.execute(
            "INSERT INTO events (id, type, at, data) VALUES (?, ?, ?, ?)",
            (event_id, event_type, self.now, json.dumps(data, ensure_ascii=False, separators=(",", ":"))))
        event = {"seq": cursor.lastrowid, "id": event_id, "type": event_type, "at": self.now, "data": data}
        self.events.append(event)
        return event


class Store:
    """One SQLite file in WAL mode; one connection per thread."""

    def __init__(self, path: str | Path, clock=time.time, checkpoints: bool = True, group_commit=None):
        self.path = Path(path)
        self.clock = clock
        # A GroupCommit: commits are written without their own flush, and each durable write
        # waits (outside the write lock) for one flush of the WAL that covers it and the
        # commits of other requests made meanwhile. None: SQLite flushes each commit itself.
        self.group_commit = group_commit
        # False: this process's commits never copy the WAL into the database (SQLite's automatic
        # checkpoint, tens of milliseconds of disk inside a commit); another process does it
        # (turnero.web.devices) with checkpoint("PASSIVE").
        self.checkpoints = checkpoints
        self._local = threading.local()
        self._listeners = []
        self._all_conns: weakref.WeakSet = weakref.WeakSet()
        self._free: list = []  # connections released by finished requests, for the next to take
        self._conns_lock = threading.Lock()
        # Writers of this process queue here in turn: SQLite's own busy handler makes a waiting
        # writer sleep in growing steps (up to 100 ms), which showed as long tails under load.
        # Other processes (the CLI) still meet the database lock and its busy timeout.
        self._write_turn = threading.RLock()
        self.migrate()

    @classmethod
    def in_data_dir(cls, data_dir, clock=time.time, checkpoints: bool = True, group_commit=None) -> "Store":
        return cls(Path(data_dir) / DB_FILE, clock, checkpoints, group_commit)

    def flush_wal(self) -> None:
        """Make every commit made so far durable (before telling the world outside the box, or a
        printer, about it: with group commit a commit is seen by readers a moment before it is
        on disk)."""
        _fsync(wal_path(self.path))

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (under gevent, this greenlet's: the standard library's locals are
        per greenlet there), taken from those released if one is free."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._conns_lock:
                conn = self._free.pop() if self._free else None
            if conn is not None:
                self._local.conn = conn
                return conn
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                   check_same_thread=False, factory=_Connection)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the client hears "201 Created" (power-cut safe).
            # With group commit, the same promise is kept by GroupCommit.wait (see write).
            conn.execute(f"PRAGMA synchronous={'NORMAL' if self.group_commit is not None else 'FULL'}")
            conn.execute("PRAGMA foreign_keys=ON")
            # Cleared personal data is overwritten in the file, whatever the build's default is.
            conn.execute("PRAGMA secure_delete=ON")
            if not self.checkpoints:
                conn.execute("PRAGMA wal_autocheckpoint=0")
            self._local.conn = conn
            with self._conns_lock:
                self._all_conns.add(conn)
        return conn

    def release(self) -> None:
        """Hand this thread's (greenlet's) connection on, at the end of a request or of a socket's
        handshake. Under gevent each connection of a client is a greenlet of its own: without this,
        each would open a connection (a quarter of a millisecond, and the schema read again), and an
        open WebSocket would keep one (~140 KB) for its whole life. A connection is only ever used by
        one greenlet at a time, and never handed on inside a transaction."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._conns_lock:
            if not conn.in_transaction and len(self._free) < FREE_CONNECTIONS:
                self._free.append(conn)
                return
        conn.close()

    def close(self):
        with self._conns_lock:
            for conn in list(self._all_conns):
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()
            self._free.clear()
        self._local = threading.local()

    @contextmanager
    def write(self, wait: float = -1, audit: dict | None = None, durable: bool = True):
        """One atomic ``BEGIN IMMEDIATE`` transaction; listeners hear its events after commit.

        ``audit``: the description of the action this transaction performs (who, what, from where);
        its audit row is written inside the transaction, so the two commit or vanish together. A
        transaction that appends events without one (the midnight roll-over, a test) gets a system
        entry: every event is covered by exactly one audit row.

        ``wait``: at most this many seconds for other writers, of this process and of others (by
        default this process's writers are waited for, other processes' for the busy timeout).

        ``durable=False``: the commit is not flushed to disk (a power cut may undo it; the next
        durable commit flushes it too). Only for device state that a repeat makes good (a print
        job's status: a slip printed twice beats none), never with events or an audit entry."""
        conn = self.connect()
        if not self._write_turn.acquire(timeout=wait):
            raise sqlite3.OperationalError("database is locked (busy writer in this process)")
        flush_ticket = None
        try:
            if not durable and self.group_commit is None:
                conn.execute("PRAGMA synchronous=NORMAL")
            _begin(conn, BUSY_TIMEOUT_SECONDS if wait < 0 else wait)
            tx = Transaction(conn, self.clock())
            try:
                yield tx
                if not durable and (tx.events or audit is not None):
                    raise ValueError("events and audited actions are always written durably")
                if audit is not None or tx.events:
                    audit_trail.append(tx, audit if audit is not None else audit_trail.system_entry(tx.events),
                                       tx.events)
                conn.execute("COMMIT")
                if durable and self.group_commit is not None:
                    flush_ticket = self.group_commit.committed()
            except BaseException:
                if conn.in_transaction:  # also when COMMIT itself failed (disk full): never leave it open
                    conn.execute("ROLLBACK")
                raise
        finally:
            if not durable and self.group_commit is None:
                conn.execute("PRAGMA synchronous=FULL")
            self._write_turn.release()
        if flush_ticket is not None:
            self.group_commit.wait(flush_ticket)  # on disk before anyone is told
        if tx.events:
            self.announce(tx.events)

    def read(self, sql: str, params=()):
        return self.connect().execute(sql, params).fetchall()

    def read_one(self, sql: str, params=()):
        return self.connect().execute(sql, params).fetchone()

    def announce(self, events: list[dict]) -> None:
        """Tell the commit listeners of ``events`` (committed here, or by a web worker for the
        device process: turnero.web.devices)."""
        for listener in list(self._listeners):
            listener(events)

    def on_commit(self, listener):
        """Call ``listener(events)`` after each commit that appended events (in this process)."""
        self._listeners.append(listener)

    def migrate(self):
        make_private_dir(self.path.parent)
        new = not self.path.exists()
        conn = self.connect()
        if new:
            os.chmod(self.path, 0o600)  # names and documents: the service user's alone
        _begin(conn, BUSY_TIMEOUT_SECONDS)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for number, script in enumerate(MIGRATIONS, start=1):
                if number > version:
                    for statement in script.split(";\n"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("UPDATE schema_version SET version = ?", (number,))
            if version < BOX_IDENTITY <= len(MIGRATIONS):
                self._give_identity(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if self.group_commit is not None:
            self.flush_wal()

    def _give_identity(self, conn) -> None:
        """The database's first epoch. A database that already holds events (made by an earlier
        version) records in its audit trail from which event on the trail covers events."""
        tx = Transaction(conn, self.clock())
        epoch = str(uuid.uuid4())
        conn.execute("INSERT INTO box_identity (id, epoch, since) VALUES (1, ?, ?)", (epoch, tx.now))
        last = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
        if last:
            audit_trail.append(tx, audit_trail.describe("system", "system", audit_trail.COVERAGE_START, details={
                "epoch_created": epoch, "events_from_seq": last + 1}))

    def epoch(self) -> str:
        """This database's identity (see the module docstring)."""
        return self.read_one("SELECT epoch FROM box_identity WHERE id = 1")[0]

    def renew_epoch(self, audit: dict) -> tuple[str, str]:
        """Give this database a new epoch (a restore: its seq numbers will be reused), recorded in
        its audit trail with ``audit`` (who restored). Nothing of the new epoch is at the central
        side yet, so the acknowledged point goes back to 0 and every event is sent again under it.
        Returns (previous epoch, new epoch)."""
        new = str(uuid.uuid4())
        renewed = {"to": new}
        entry = audit_trail.with_details(audit, "epoch_renewed", renewed)  # "from" is filled below
        with self.write(audit=entry) as tx:
            renewed["from"] = tx.one("SELECT epoch FROM box_identity WHERE id = 1")[0]
            tx.execute("UPDATE box_identity SET epoch = ?, since = ? WHERE id = 1", (new, tx.now))
            tx.execute("UPDATE sync_state SET acked_seq = 0 WHERE id = 1")
        return renewed["from"], new

    def schema_version(self) -> int:
        return self.read_one("SELECT version FROM schema_version")[0]

    def check_writable(self, wait_seconds: float = 3.0):
        """Raise ``sqlite3.Error`` when the database cannot be written (disk full, read-only, or
        locked for longer than ``wait_seconds``: a health probe must answer before a monitor gives up)."""
        with self.write(wait=wait_seconds) as tx:
            tx.execute("INSERT INTO kv (key, value) VALUES ('health', ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(tx.now),))

    def checkpoint(self, mode: str = "TRUNCATE") -> None:
        """Move the WAL into the database. TRUNCATE (the default) also empties it (after a purge:
        old page images in the WAL still hold what was cleared); PASSIVE waits for nobody."""
        if mode not in ("TRUNCATE", "PASSIVE"):
            raise ValueError(mode)
        self.connect().execute(f"PRAGMA wal_checkpoint({mode})")

    def size_bytes(self) -> int:
        """The database's size without its free pages (what a backup copies)."""
        pages, free, size = (self.read_one(f"PRAGMA {name}")[0] for name in ("page_count", "freelist_count",
                                                                              "page_size"))
        return (pages - free) * size

    def get_kv(self, key: str, default=None):
        row = self.read_one("SELECT value FROM kv WHERE key = ?", (key,))
        return row[0] if row else default

    def counter(self, key: str) -> int | None:
        """A version counter of :meth:`Transaction.bump` (0 before its first bump); None when it
        cannot be read now (a version check keeps what it has: a page must not fail for this)."""
        try:
            return int(self.get_kv(key, 0))
        except sqlite3.Error:
            return None

    def backup_to(self, target: str | Path, progress=None, pages: int = 1024):
        """Copy the database with SQLite's online backup API (safe while the box serves).

        With ``progress``, the copy goes ``pages`` at a time and ``progress(done, total)`` hears
        each step (pages). The copy runs inside one read transaction of its own connection: SQLite
        then copies that snapshot step by step, and a ticket issued meanwhile by the server does
        not restart the copy (it would, step after step, on a busy box)."""
        dest = sqlite3.connect(target)
        if progress is None:
            try:
                self.connect().backup(dest)
            finally:
                dest.close()
            return
        source = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            source.execute("BEGIN")
            source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts here
            source.backup(dest, pages=pages,
                          progress=lambda status, remaining, total: progress(total - remaining, total))
            source.execute("COMMIT")
        finally:
            source.close()
            dest.close()


def _begin(conn: sqlite3.Connection, wait: float) -> None:
    """``BEGIN IMMEDIATE``, waiting up to ``wait`` seconds for another process's writer (another
    web worker, the device process, the CLI). Not with SQLite's busy handler: it sleeps inside the
    C library, which under gevent would stop every request of the worker; ``time.sleep`` yields."""
    started = time.monotonic()
    pause = 0.0005
    conn.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() - started >= wait:
                    raise
            if time.monotonic() - started < SPIN_SECONDS:
                # The other writer commits in well under a millisecond, and a timed sleep lasts at
                # least one (the event loop's clock): retry as soon as other greenlets have run.
                time.sleep(0)
                continue
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")


class GroupCommit:
    """One flush of the WAL for the commits of many requests.

    Each durable write commits without a flush (``synchronous=NORMAL``), takes a ticket
    (:meth:`committed`, under the write lock, so tickets follow commit order) and, outside the
    lock, waits (:meth:`wait`) until a flush that began after its commit has ended. The first waiter
    finds no flush running and makes one, through ``run_blocking`` (under gevent: a native thread,
    so the event loop serves others during the disk's work); the writers that committed
    meanwhile wait for the next, which covers them all. On a power cut, SQLite's recovery keeps
    exactly the flushed commits: every acknowledged write is among them."""

    def __init__(self, wal_path: str | Path, run_blocking=None, others_busy=lambda: True):
        self.wal_path = Path(wal_path)
        self.run_blocking = run_blocking or (lambda call, *args: call(*args))
        # Whether other requests are under way: if not, the flush is made right here (handing it
        # to a thread costs more than it saves when there is nobody to serve meanwhile).
        self.others_busy = others_busy
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._committed = 0
        self._flushed = 0
        self._flushing = False
        self.flushes = 0

    def committed(self) -> int:
        with self._lock:
            self._committed += 1
            return self._committed

    def wait(self, ticket: int) -> None:
        while True:
            with self._lock:
                while self._flushing and self._flushed < ticket:
                    self._changed.wait()
                if self._flushed >= ticket:
                    return
                self._flushing = True
                target = self._committed
            done = False
            try:
                if self.others_busy():
                    self.run_blocking(_fsync, self.wal_path)
                else:
                    _fsync(self.wal_path)
                done = True
            finally:
                with self._lock:
                    self._flushing = False
                    if done:
                        self._flushed = max(self._flushed, target)
                        self.flushes += 1
                    self._changed.notify_all()


def wal_path(db_path: str | Path) -> Path:
    """Where SQLite keeps the write-ahead log of the database at ``db_path``."""
    return Path(f"{db_path}-wal")


def _fsync(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL: everything was checkpointed into the database, which was flushed then
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def integrity_check(path: str | Path, tick=None) -> str:
    """SQLite's own check of a database file (a backup, a restore's candidate): "ok" or the problem.
    ``tick()``, when given, is called now and then while it runs (it cannot say how far it is)."""
    conn = sqlite3.connect(path)
    if tick is not None:
        def handler():
            tick()
            return 0  # anything else would abort the check

        conn.set_progress_handler(handler, 200_000)
        tick()  # it has started (a small database is checked before the first tick)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def make_private_dir(path: str | Path) -> None:
    """Create ``path`` (0700) if needed: a data directory holds personal data and the session secret."""
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
