"""The central receiver's database: SQLite by default, PostgreSQL when given a URL.

Only this module knows which one it is. SQL is written once with ``?`` placeholders and portable
types; each write is one transaction (``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL a row lock on
the sede serializes its batches). Connections come from a small pool, so a threaded server
reuses them instead of opening one per request.
"""
from __future__ import annotations

import queue
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

DEFAULT_URL = "sqlite:///turnero-central.db"

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS sedes (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        acked_seq BIGINT NOT NULL DEFAULT 0,
        events_received BIGINT NOT NULL DEFAULT 0,
        last_received_at TEXT,
        appointment_version BIGINT NOT NULL DEFAULT 0
    )""",
    # One row per (sede, seq): the primary key is what makes a re-sent batch a no-op.
    """CREATE TABLE IF NOT EXISTS events (
        sede TEXT NOT NULL REFERENCES sedes(code),
        seq BIGINT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        at TEXT NOT NULL,
        day TEXT NOT NULL,
        service TEXT,
        data TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (sede, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_day ON events (sede, day, type)",
    # Attention records pulled out of the events at ingest, for the KPIs.
    """CREATE TABLE IF NOT EXISTS attentions (
        sede TEXT NOT NULL,
        seq BIGINT NOT NULL,
        ticket_id TEXT,
        service TEXT,
        counter TEXT,
        staff TEXT,
        priority TEXT,
        outcome TEXT NOT NULL,
        wait_seconds DOUBLE PRECISION,
        service_seconds DOUBLE PRECISION,
        day TEXT NOT NULL,
        PRIMARY KEY (sede, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS attentions_by_day ON attentions (sede, day)",
    """CREATE TABLE IF NOT EXISTS appointments (
        sede TEXT NOT NULL REFERENCES sedes(code),
        id TEXT NOT NULL,
        service TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        document_type TEXT,
        document_number TEXT,
        name TEXT,
        status TEXT NOT NULL,
        version BIGINT NOT NULL,
        PRIMARY KEY (sede, id)
    )""",
    "CREATE INDEX IF NOT EXISTS appointments_by_version ON appointments (sede, version)",
]


class Database:
    def __init__(self, url: str | None = None, pool_size: int = 16):
        self.url = url or DEFAULT_URL
        if self.url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
        elif self.url.startswith("sqlite:///"):
            self.dialect = "sqlite"
            self.path = Path(self.url[len("sqlite:///"):])
        else:
            raise ValueError(f"unsupported database URL (use sqlite:///PATH or postgresql://...): {_safe(self.url)}")
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._pool_size = pool_size
        self._lock = threading.Lock()

    def __repr__(self):
        return f"Database({_safe(self.url)!r})"

    # ------------------------------------------------------------ connections

    def _open(self):
        if self.dialect == "sqlite":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged event is on disk
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    @contextmanager
    def connection(self):
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._open()
        broken = False
        try:
            yield conn
        except BaseException as exc:
            broken = self._is_broken(exc)
            raise
        finally:
            if broken or self._pool.qsize() >= self._pool_size:
                conn.close()
            else:
                self._pool.put(conn)

    def _is_broken(self, exc) -> bool:
        if self.dialect == "postgresql":
            import psycopg

            return isinstance(exc, psycopg.OperationalError)
        return False

    def close(self):
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    # ------------------------------------------------------------ statements

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    @contextmanager
    def transaction(self):
        """One write transaction; yields a :class:`Tx`."""
        with self.connection() as conn:
            if self.dialect == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Tx(self, conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction():
                    yield Tx(self, conn)

    def all(self, statement: str, params=()) -> list[tuple]:
        with self.connection() as conn:
            return list(conn.execute(self.sql(statement), params).fetchall())

    def one(self, statement: str, params=()):
        rows = self.all(statement, params)
        return rows[0] if rows else None

    def ping(self):
        """Raise when the database cannot answer (the central's /healthz)."""
        self.one("SELECT 1")

    def create_schema(self):
        with self.transaction() as tx:
            for statement in SCHEMA:
                tx.execute(statement)

    def lock_clause(self) -> str:
        """Row lock for a sede's progress row (SQLite's BEGIN IMMEDIATE already serializes writers)."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""


class Tx:
    def __init__(self, db: Database, conn):
        self.db = db
        self.conn = conn

    def execute(self, statement: str, params=()):
        return self.conn.execute(self.db.sql(statement), params)

    def executemany(self, statement: str, rows):
        if self.db.dialect == "sqlite":
            return self.conn.executemany(statement, rows)
        with self.conn.cursor() as cursor:
            return cursor.executemany(self.db.sql(statement), rows)

    def one(self, statement: str, params=()):
        return self.execute(statement, params).fetchone()

    def all(self, statement: str, params=()):
        return self.execute(statement, params).fetchall()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url
