"""The central receiver's database: SQLite by default, PostgreSQL when given a URL.

Only this module knows which one it is. SQL is written once with ``?`` placeholders and portable
types; each write is one transaction (``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL a row lock on
the sede serializes its batches). Connections come from a small pool, so a threaded server
reuses them instead of opening one per request.

The schema is versioned (``schema_version``): :data:`STEPS` is an append-only list of upgrade
steps, each a list of portable statements, applied in one transaction by :meth:`Database.create_schema`
(every ``turnero-central`` command runs it). A new database goes through the same steps as an
old one, so the upgrade path is the one always exercised.
"""
from __future__ import annotations

import queue
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

DEFAULT_URL = "sqlite:///turnero-central.db"

# Step 1: the first schema (before versioning; IF NOT EXISTS keeps a database of that time as it is).
SCHEMA_V1 = [
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

LEGACY_EPOCH = "legacy"  # the epoch of pushes that name none (boxes of an earlier version)

# Step 2: events and attentions per (sede, epoch, seq); per-epoch progress and audit anchor; the
# people who may read the KPI pages. Tables whose primary key changes are copied and renamed
# (portable between SQLite and PostgreSQL); what was held becomes the sede's legacy epoch.
EPOCHS = [
    """CREATE TABLE epochs (
        sede TEXT NOT NULL REFERENCES sedes(code),
        epoch TEXT NOT NULL,
        acked_seq BIGINT NOT NULL DEFAULT 0,
        events_received BIGINT NOT NULL DEFAULT 0,
        first_received_at TEXT,
        last_received_at TEXT,
        audit_row BIGINT,
        audit_hash TEXT,
        audit_seq BIGINT,
        audit_received_at TEXT,
        PRIMARY KEY (sede, epoch)
    )""",
    f"""INSERT INTO epochs (sede, epoch, acked_seq, events_received, first_received_at, last_received_at)
        SELECT code, '{LEGACY_EPOCH}', acked_seq, events_received, last_received_at, last_received_at FROM sedes
        WHERE acked_seq > 0 OR events_received > 0""",
    "ALTER TABLE sedes ADD COLUMN epoch TEXT",
    f"UPDATE sedes SET epoch = '{LEGACY_EPOCH}' WHERE acked_seq > 0 OR events_received > 0",
    """CREATE TABLE attentions_by_epoch (
        sede TEXT NOT NULL,
        epoch TEXT NOT NULL,
        seq BIGINT NOT NULL,
        event_id TEXT,
        ticket_id TEXT,
        service TEXT,
        counter TEXT,
        staff TEXT,
        priority TEXT,
        outcome TEXT NOT NULL,
        wait_seconds DOUBLE PRECISION,
        service_seconds DOUBLE PRECISION,
        day TEXT NOT NULL,
        PRIMARY KEY (sede, epoch, seq)
    )""",
    f"""INSERT INTO attentions_by_epoch (sede, epoch, seq, event_id, ticket_id, service, counter, staff, priority,
            outcome, wait_seconds, service_seconds, day)
        SELECT a.sede, '{LEGACY_EPOCH}', a.seq, (SELECT e.id FROM events e WHERE e.sede = a.sede AND e.seq = a.seq),
            a.ticket_id, a.service, a.counter, a.staff, a.priority, a.outcome, a.wait_seconds, a.service_seconds, a.day
        FROM attentions a""",
    "DROP TABLE attentions",
    "ALTER TABLE attentions_by_epoch RENAME TO attentions",
    "CREATE INDEX attentions_by_day ON attentions (sede, day)",
    # One row per (sede, epoch, seq): the primary key is what makes a re-sent batch a no-op, and
    # two histories (a restored box) never meet under one seq.
    """CREATE TABLE events_by_epoch (
        sede TEXT NOT NULL REFERENCES sedes(code),
        epoch TEXT NOT NULL,
        seq BIGINT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        at TEXT NOT NULL,
        day TEXT NOT NULL,
        service TEXT,
        data TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (sede, epoch, seq)
    )""",
    f"""INSERT INTO events_by_epoch (sede, epoch, seq, id, type, at, day, service, data, received_at)
        SELECT sede, '{LEGACY_EPOCH}', seq, id, type, at, day, service, data, received_at FROM events""",
    "DROP TABLE events",
    "ALTER TABLE events_by_epoch RENAME TO events",
    "CREATE INDEX events_by_day ON events (sede, day, type)",
    """CREATE TABLE viewers (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
]


def _summary_table(table: str, period: str) -> str:
    """Step 3's day and month tables: the same columns, but for the period's (``day`` or ``month``).
    Shipped SQL: the text this returns must never change."""
    return f"""CREATE TABLE {table} (
        sede TEXT NOT NULL,
        {period} TEXT NOT NULL,
        dimension TEXT NOT NULL,
        key TEXT NOT NULL,
        issued BIGINT NOT NULL DEFAULT 0,
        served BIGINT NOT NULL DEFAULT 0,
        no_shows BIGINT NOT NULL DEFAULT 0,
        cancelled BIGINT NOT NULL DEFAULT 0,
        transferred BIGINT NOT NULL DEFAULT 0,
        expired BIGINT NOT NULL DEFAULT 0,
        waits TEXT NOT NULL,
        service_times TEXT NOT NULL,
        PRIMARY KEY (sede, {period}, dimension, key)
    )"""


# Step 3: per-day and per-month summaries (central/kpis.py), what each sede's box says about itself (time
# zone, services with names and target waits), whether its last push left a gap, and how far back
# raw events are still held after `prune-events`. Existing events are summarised by
# Database.create_schema right after this step, in the same transaction.
SUMMARIES = [
    _summary_table("daily", "day"),
    "CREATE INDEX daily_by_day ON daily (day, dimension)",
    # The same figures per calendar month (always the sum of that month's daily rows), so a year
    # reads twelve rows per sede and service instead of 365.
    _summary_table("monthly", "month"),
    "CREATE INDEX monthly_by_month ON monthly (month, dimension)",
    "ALTER TABLE sedes ADD COLUMN timezone TEXT",
    "ALTER TABLE sedes ADD COLUMN services TEXT",
    "ALTER TABLE sedes ADD COLUMN last_push_gap INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE retention (
        sede TEXT PRIMARY KEY,
        kept_from TEXT NOT NULL
    )""",
]

# Step 4: language packages a sede proposes and the central office approves (central/languages.py).
# The package bytes are kept in the database as base64 text: the same statements work on SQLite
# and PostgreSQL, a backup of the database is a backup of the packages, and packages are small
# (a catalog is ~100 KB, a recorded voice pack a few MB). Ids and the approval order come from
# ``language_counters`` rows (an UPDATE locks its row on PostgreSQL, serializing two approvals).
LANGUAGES = [
    """CREATE TABLE language_packages (
        id BIGINT PRIMARY KEY,
        sede TEXT NOT NULL,
        language TEXT NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        sede_version TEXT,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        items BIGINT NOT NULL,
        metadata TEXT NOT NULL,
        proposed_at TEXT NOT NULL,
        version BIGINT,
        approved_seq BIGINT UNIQUE,
        approved_at TEXT,
        approved_by TEXT
    )""",
    "CREATE INDEX language_packages_by_kind ON language_packages (language, kind, version)",
    """CREATE TABLE language_blobs (
        id BIGINT PRIMARY KEY,
        data TEXT NOT NULL
    )""",
    "CREATE TABLE language_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO language_counters (name, value) VALUES ('package', 0)",
    "INSERT INTO language_counters (name, value) VALUES ('approval', 0)",
]

STEPS = [SCHEMA_V1, EPOCHS, SUMMARIES, LANGUAGES]  # append only; never edit a step that has shipped


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
        """Create or upgrade the schema to the last of :data:`STEPS` (one transaction)."""
        with self.transaction() as tx:
            if self.dialect == "postgresql":
                # Two processes starting at once: one upgrades, the other then finds it done.
                tx.execute("SELECT pg_advisory_xact_lock(74110)")
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.one("SELECT version FROM schema_version")
            if row is None:
                tx.execute("INSERT INTO schema_version (version) VALUES (0)")
            version = row[0] if row else 0
            if version > len(STEPS):
                raise ValueError(f"the central database has schema version {version}, newer than this program's "
                                 f"({len(STEPS)}); upgrade turnero-central")
            for number, statements in enumerate(STEPS, start=1):
                if number > version:
                    for statement in statements:
                        tx.execute(statement)
                    if statements is SUMMARIES:
                        from central.kpis import rebuild_all

                        rebuild_all(tx)
                    tx.execute("UPDATE schema_version SET version = ?", (number,))

    def schema_version(self) -> int:
        return self.one("SELECT version FROM schema_version")[0]

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
