"""Versioned schema. Append a new script to MIGRATIONS; never edit one that has shipped.

Times are stored as Unix seconds (REAL) and shown in the sede's zone at the edges.
"""

MIGRATIONS = [
    # 1: the box
    """
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('staff', 'supervisor', 'admin')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('kiosk', 'display')),
    services TEXT NOT NULL DEFAULT '[]',
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE day_numbers (
    service TEXT NOT NULL,
    service_day TEXT NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (service, service_day)
);
CREATE TABLE appointments (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    starts_at REAL NOT NULL,
    document_type TEXT,
    document_number TEXT,
    name TEXT,
    status TEXT NOT NULL DEFAULT 'booked',
    ticket_id TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX appointments_by_document ON appointments (document_number, starts_at);
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    public_id TEXT NOT NULL,
    code TEXT NOT NULL,
    number INTEGER NOT NULL,
    service TEXT NOT NULL,
    service_day TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT,
    channel TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'es',
    document_type TEXT,
    document_number TEXT,
    name TEXT,
    appointment_id TEXT,
    appointment_at REAL,
    issued_at REAL NOT NULL,
    queued_at REAL NOT NULL,
    called_at REAL,
    started_at REAL,
    finished_at REAL,
    counter TEXT,
    staff TEXT,
    recalls INTEGER NOT NULL DEFAULT 0,
    transferred_from TEXT,
    idempotency_key TEXT UNIQUE,
    print_status TEXT NOT NULL DEFAULT 'disabled',
    cancel_reason TEXT
);
CREATE INDEX tickets_waiting ON tickets (status, service, queued_at);
CREATE INDEX tickets_by_public_id ON tickets (public_id);
CREATE INDEX tickets_by_day ON tickets (service_day, service);
CREATE INDEX tickets_by_counter ON tickets (counter, status);
CREATE TABLE attentions (
    id INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    service TEXT NOT NULL,
    counter TEXT,
    staff TEXT,
    priority TEXT,
    issued_at REAL NOT NULL,
    called_at REAL,
    started_at REAL,
    ended_at REAL NOT NULL,
    wait_seconds REAL,
    service_seconds REAL,
    outcome TEXT NOT NULL,
    result TEXT,
    case_ref TEXT,
    notes TEXT
);
CREATE INDEX attentions_by_time ON attentions (ended_at);
CREATE INDEX attentions_by_service ON attentions (service, ended_at);
CREATE TABLE counter_state (
    counter TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed',
    staff TEXT,
    services TEXT,
    pause_reason TEXT,
    since REAL,
    preferential_streak INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_by_type ON events (type, seq);
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    printed_at REAL
);
CREATE INDEX print_jobs_pending ON print_jobs (status, next_attempt_at)
""",
    # 2: the sync agent's durable state (one row), so a restart or a CLI run goes on where it was
    """
CREATE TABLE sync_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    acked_seq INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'ok',
    stopped_settings TEXT,
    last_success REAL,
    last_error TEXT,
    last_error_at REAL,
    appointment_cursor TEXT,
    last_pull REAL,
    purged_seq INTEGER NOT NULL DEFAULT 0,
    last_purge REAL
);
INSERT INTO sync_state (id) VALUES (1)
""",
    # 3: covering indexes for the reports (a month of 100,000 tickets is read from the index alone)
    """
CREATE INDEX attentions_report ON attentions (ended_at, outcome, service, counter, staff, priority, wait_seconds,
                                              service_seconds);
CREATE INDEX tickets_issue_report ON tickets (issued_at, transferred_from, service, priority);
CREATE INDEX tickets_closed_report ON tickets (finished_at, status, service, counter, staff, transferred_from)
""",
    # the audit trail: append-only, hash-chained (turnero/audit.py)
    """
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    client TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_by_actor ON audit_log (actor, at)
""",
    # one-time pairing codes shown on the admin page (only their hash is kept)
    """
CREATE TABLE pairing_codes (
    code_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('kiosk', 'display')),
    services TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
)
""",
    # the report figures of a day, kept with the fingerprint of the rows they came from (stats.py)
    """
CREATE TABLE stats_days (
    day TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    partial TEXT NOT NULL
)
""",
    # events by time: a ticket's history and today's supervisor actions read a time window, not months
    """
CREATE INDEX events_by_time ON events (at)
""",
    # the discreet services a staff user is assigned to: only they (and supervisors) see those
    # tickets' personal data
    """
ALTER TABLE users ADD COLUMN services TEXT NOT NULL DEFAULT '[]'
""",
    # 9: the database's identity, an epoch made with it (Store.migrate fills it) and renewed by a
    # restore: the central keeps events per (sede, epoch, seq), so a restored box's seq numbers
    # never meet another history's
    """
CREATE TABLE box_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch TEXT NOT NULL,
    since REAL NOT NULL
)
""",
    # 10: "¿Cómo fue su atención?": one answer per visit (a public id follows a person through
    # transfers), given on the status page once the ticket is done (SPEC, "Survey")
    """
CREATE TABLE ratings (
    public_id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    service TEXT NOT NULL,
    service_day TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment TEXT,
    rated_at REAL NOT NULL
)
""",
    # 11: the kiosk finds an appointment by its code as typed (any case), so the central's id
    # cannot use its own index: the day's appointments are read by time instead
    """
CREATE INDEX appointments_by_time ON appointments (starts_at)
""",
    # 12: translators (a role of their own: they edit the catalogs, nothing else) and the
    # languages each user attends in (SPEC, "Languages"). SQLite cannot change a CHECK in place:
    # the table is made anew under the same ids, and sessions (its only referrer) with it, child
    # first, so no reference is ever left dangling (foreign keys stay on in a migration).
    """
CREATE TABLE users_new (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('staff', 'supervisor', 'admin', 'traductor')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    services TEXT NOT NULL DEFAULT '[]',
    languages TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO users_new (id, username, role, password_hash, active, created_at, services)
    SELECT id, username, role, password_hash, active, created_at, services FROM users;
CREATE TABLE sessions_new (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users_new(id),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
INSERT INTO sessions_new SELECT token_hash, user_id, created_at, expires_at FROM sessions;
DROP TABLE sessions;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
ALTER TABLE sessions_new RENAME TO sessions
""",
    # 13: the translation studio: UI strings translated in the sede (Spanish stays in the files);
    # a string reaches citizens only once a second person marked it revisado (turnero.translations)
    """
CREATE TABLE translations (
    language TEXT NOT NULL,
    key TEXT NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('borrador', 'revisado')),
    author TEXT NOT NULL,
    updated_at REAL NOT NULL,
    reviewer TEXT,
    reviewed_at REAL,
    PRIMARY KEY (language, key)
)
""",
    # 14: a counter may call "primero en mis idiomas" (its holder's languages first within a
    # tier, bounded: turnero/ordering.py); the counter's choice, kept whoever holds it
    """
ALTER TABLE counter_state ADD COLUMN language_first INTEGER NOT NULL DEFAULT 0
""",
]

# The migration that creates ``box_identity``; the store gives the database its epoch right after it.
BOX_IDENTITY = 9
assert "CREATE TABLE box_identity" in MIGRATIONS[BOX_IDENTITY - 1]
