"""What the central receiver does, as plain functions over :class:`central.db.Database`:
register sedes and their tokens, ingest a batch of events, keep and serve appointments.

Errors are :class:`CentralError` with a stable code and an HTTP status; the web layer only
translates them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from central import checks, kpis
from central.db import LEGACY_EPOCH

MAX_BATCH = 500
APPOINTMENT_PAGE = 500
SEDE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
APPOINTMENT_STATUSES = ("booked", "cancelled")
VIEWER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# What the central assumes of a box that does not say (earlier boxes, the outside contract check).
DEFAULT_TIMEZONE = "America/Lima"
DEFAULT_TARGET_MINUTES = 30


class CentralError(Exception):
    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def token_hash(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 cannot be brute-forced, and a copied database
    # hands out no working token.
    return hashlib.sha256(token.encode()).hexdigest()


# ------------------------------------------------------------------ sedes

def add_sede(db, code: str, name: str | None = None) -> str:
    """Register a sede; returns its token (shown once). Errors: invalid_sede (422), sede_exists (409)."""
    if not SEDE_CODE.fullmatch(code or ""):
        raise CentralError("invalid_sede", "Sede codes are 1-32 letters, digits, '-' or '_'.", 422)
    token = secrets.token_urlsafe(32)
    with db.transaction() as tx:
        if tx.one("SELECT 1 FROM sedes WHERE code = ?", (code,)):
            raise CentralError("sede_exists", f"Sede {code} already exists (use 'sede token' for a new token).", 409)
        tx.execute("INSERT INTO sedes (code, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
                   (code, name or code, token_hash(token), now_text()))
    return token


def rotate_token(db, code: str) -> str:
    """A new token for a sede; the old one stops working at once. Errors: unknown_sede (404)."""
    token = secrets.token_urlsafe(32)
    with db.transaction() as tx:
        if tx.execute("UPDATE sedes SET token_hash = ? WHERE code = ?", (token_hash(token), code)).rowcount != 1:
            raise CentralError("unknown_sede", f"No sede {code!r}.", 404)
    return token


def list_sedes(db) -> list[dict]:
    """Each sede with its latest epoch's ``acked_seq`` and how many epochs (databases) it sent."""
    rows = db.all("SELECT code, name, acked_seq, events_received, last_received_at, created_at, epoch, "
                  "(SELECT COUNT(*) FROM epochs WHERE epochs.sede = sedes.code), timezone, services, last_push_gap "
                  "FROM sedes ORDER BY code")
    return [{"code": r[0], "name": r[1], "acked_seq": r[2], "events_received": r[3], "last_received_at": r[4],
             "created_at": r[5], "epoch": r[6], "epochs": r[7], "timezone": r[8] or DEFAULT_TIMEZONE,
             "services": json.loads(r[9]) if r[9] else {}, "gap": bool(r[10])} for r in rows]


def bearer_hash(authorization: str | None) -> str:
    """The hash of a sede token sent as ``Authorization: Bearer <token>``. Errors: missing_token (401)."""
    if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
        raise CentralError("missing_token", "Send the sede token as 'Authorization: Bearer <token>'.", 401)
    return token_hash(authorization[7:].strip())


def authenticate(db, code: str, authorization: str | None) -> None:
    """Errors: missing_token (401), unknown_sede (404), invalid_token (401), wrong_sede (403)."""
    given = bearer_hash(authorization)
    row = db.one("SELECT token_hash FROM sedes WHERE code = ?", (code,))
    if row is None:
        raise CentralError("unknown_sede", f"No sede {code!r} is registered here.", 404)
    if hmac.compare_digest(given, row[0]):
        return
    if db.one("SELECT 1 FROM sedes WHERE token_hash = ?", (given,)):
        raise CentralError("wrong_sede", "This token belongs to another sede.", 403)
    raise CentralError("invalid_token", "The token is not valid for this sede.", 401)


# ------------------------------------------------------------------ who may read the KPIs

def add_viewer(db, name: str) -> str:
    """Register someone who may read the KPI pages and JSON; returns their token (shown once), the
    password of HTTP Basic with ``name`` as user. Errors: invalid_viewer (422), viewer_exists (409)."""
    if not VIEWER_NAME.fullmatch(name or ""):
        raise CentralError("invalid_viewer", "Viewer names are 1-64 letters, digits, '.', '-' or '_'.", 422)
    token = secrets.token_urlsafe(32)
    with db.transaction() as tx:
        if tx.one("SELECT 1 FROM viewers WHERE name = ?", (name,)):
            raise CentralError("viewer_exists", f"Viewer {name} already exists (remove it for a new token).", 409)
        tx.execute("INSERT INTO viewers (name, token_hash, created_at) VALUES (?, ?, ?)",
                   (name, token_hash(token), now_text()))
    return token


def remove_viewer(db, name: str) -> None:
    """Errors: unknown_viewer (404)."""
    with db.transaction() as tx:
        if tx.execute("DELETE FROM viewers WHERE name = ?", (name,)).rowcount != 1:
            raise CentralError("unknown_viewer", f"No viewer {name!r}.", 404)


def list_viewers(db) -> list[dict]:
    return [{"name": r[0], "created_at": r[1]} for r in db.all("SELECT name, created_at FROM viewers ORDER BY name")]


def authorize_reader(db, authorization: str | None, code: str | None = None) -> str:
    """Who reads the KPIs: a viewer (HTTP Basic ``name:token``, or ``Bearer <token>``) or, for one
    sede's JSON (``code``), that sede's own token. Returns ``viewer:NAME`` or ``sede:CODE``.

    Errors: login_required (401: no credential, or not a valid one), wrong_sede (403)."""
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    if scheme.lower() == "basic" and value:
        try:
            name, _, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except ValueError:  # not base64, not UTF-8
            name = secret = ""
        row = db.one("SELECT token_hash FROM viewers WHERE name = ?", (name,)) if name and secret else None
        if row is not None and hmac.compare_digest(token_hash(secret), row[0]):
            return f"viewer:{name}"
    elif scheme.lower() == "bearer" and value:
        given = token_hash(value)
        row = db.one("SELECT name FROM viewers WHERE token_hash = ?", (given,))
        if row is not None:
            return f"viewer:{row[0]}"
        sede = db.one("SELECT code FROM sedes WHERE token_hash = ?", (given,))
        if sede is not None and code is not None:
            if sede[0] != code:
                raise CentralError("wrong_sede", "A sede's token reads only that sede's figures.", 403)
            return f"sede:{code}"
    raise CentralError("login_required", "The KPIs need a viewer's credential (HTTP Basic; see "
                       "'turnero-central viewer add') or, for one sede's JSON, that sede's token.", 401)


# ------------------------------------------------------------------ events

def ingest(db, code: str, body) -> int:
    """Store a contiguous batch of one epoch, each ``(sede, epoch, seq)`` once, in one transaction;
    return ``acked_seq``: the highest seq of that epoch held with no gap from 1.

    ``body``: ``{"sede", "epoch"?, "events", "audit_head"?: {"row", "hash"}}``. A body without an
    epoch (a box of an earlier version) is the sede's legacy epoch. The audit head is kept as the
    epoch's anchor (:func:`_anchor`).

    Errors: bad_request (400: not an object, no event list); sede_mismatch, invalid_epoch,
    invalid_audit_head, invalid_event, non_contiguous_batch (422); batch_too_large (413);
    seq_conflict (409: a seq of this epoch already held with another event id, e.g. a database
    file copied back by hand); audit_conflict (409: the audit chain went back or was rewritten).
    """
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise CentralError("bad_request", "The body must be {\"sede\": ..., \"events\": [...]}.", 400)
    if body.get("sede") != code:
        raise CentralError("sede_mismatch", "The body's sede does not match the URL.", 422)
    epoch = _epoch(body.get("epoch"))
    head = _audit_head(body.get("audit_head"))
    zone_name = _timezone(body.get("timezone"))
    services = _services(body.get("services"))
    events = body["events"]
    if len(events) > MAX_BATCH:
        raise CentralError("batch_too_large", f"At most {MAX_BATCH} events per batch.", 413)
    if zone_name is None:
        held_zone = db.one("SELECT timezone FROM sedes WHERE code = ?", (code,))
        zone_name = (held_zone[0] if held_zone else None) or DEFAULT_TIMEZONE
    zone = _zone(zone_name)
    rows = [_event_row(code, epoch, event, index, zone) for index, event in enumerate(events)]
    for previous, current in zip(rows, rows[1:]):
        if current[2] != previous[2] + 1:
            raise CentralError("non_contiguous_batch", f"seq {current[2]} follows {previous[2]}: a batch must be "
                               "ascending and contiguous.", 422)
    attentions = [_attention_row(row, event) for row, event in zip(rows, events)]
    received = now_text()
    with db.transaction() as tx:
        tx.one("SELECT acked_seq FROM sedes WHERE code = ?" + db.lock_clause(), (code,))
        state = tx.one("SELECT acked_seq, audit_row, audit_hash, audit_seq, audit_received_at FROM epochs "
                       "WHERE sede = ? AND epoch = ?", (code, epoch))
        if state is None:
            if not rows and head is None:
                return 0  # nothing of this epoch is held, and nothing to keep
            tx.execute("INSERT INTO epochs (sede, epoch, first_received_at) VALUES (?, ?, ?)", (code, epoch, received))
            state = (0, None, None, None, None)
        acked = state[0]
        new = []
        if rows:
            first, last = rows[0][2], rows[-1][2]
            held = dict(tx.all("SELECT seq, id FROM events WHERE sede = ? AND epoch = ? AND seq >= ? AND seq <= ?",
                               (code, epoch, first, last)))
            for row in rows:
                if row[2] in held and held[row[2]] != row[3]:
                    raise CentralError("seq_conflict", f"seq {row[2]} is already held with another event id; this "
                                       "box's history differs from what was received before.", 409)
            new = [row for row in rows if row[2] not in held]
        anchor = _anchor(state[1:], head, rows[-1][2] if rows else 0, received)
        if new:
            _summarise(tx, code, epoch, new, {row[2]: event for row, event in zip(rows, events)})
            tx.executemany("INSERT INTO events (sede, epoch, seq, id, type, at, day, service, data, received_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*row, received) for row in new])
            wanted = {row[2] for row in new}
            fresh = [a for a in attentions if a is not None and a[2] in wanted]
            if fresh:
                tx.executemany("INSERT INTO attentions (sede, epoch, seq, event_id, ticket_id, service, counter, staff,"
                               " priority, outcome, wait_seconds, service_seconds, day)"
                               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", fresh)
        if rows and first <= acked + 1 < last + 1:
            acked = last
        acked = _advance(tx, code, epoch, acked)
        tx.execute("UPDATE epochs SET acked_seq = ?, events_received = events_received + ?, last_received_at = ?, "
                   "audit_row = ?, audit_hash = ?, audit_seq = ?, audit_received_at = ? WHERE sede = ? AND epoch = ?",
                   (acked, len(new), received, *anchor, code, epoch))
        # A push whose last event is beyond what is acknowledged left a gap behind it.
        gap = int(bool(rows) and acked < rows[-1][2])
        tx.execute("UPDATE sedes SET acked_seq = ?, epoch = ?, events_received = events_received + ?, "
                   "last_received_at = ?, last_push_gap = ?, timezone = COALESCE(?, timezone), "
                   "services = COALESCE(?, services) WHERE code = ?",
                   (acked, epoch, len(new), received, gap, body.get("timezone") and zone_name,
                    json.dumps(services, ensure_ascii=False, sort_keys=True) if services is not None else None, code))
    return acked


def _summarise(tx, code: str, epoch: str, new: list, events: dict):
    """Add the newly stored events to the day summaries, in the same transaction as their insert.

    An event whose id the sede already sent under another epoch (a restored box sending its
    history again) is not counted twice; nor is one from a day whose raw events were pruned (its
    day is final: the original may be gone, so it cannot be told apart from a re-send)."""
    since = kpis.kept_from(tx, code)
    new = [row for row in new if since is None or row[6] >= since]
    if not new:
        return
    known: set = set()
    if tx.one("SELECT COUNT(*) FROM epochs WHERE sede = ?", (code,))[0] > 1:
        # The same event has the same ``at``, hence the same day: the day index narrows the look-up.
        ids = [row[3] for row in new]
        known = {r[0] for r in tx.all(
            f"SELECT id FROM events WHERE sede = ? AND day >= ? AND day <= ? AND epoch <> ? AND id IN "
            f"({', '.join('?' * len(ids))})", (code, min(r[6] for r in new), max(r[6] for r in new), epoch, *ids))}
    delta = kpis.Delta()
    for row in new:
        if row[3] not in known:
            delta.add(row[6], row[4], events[row[2]]["data"])
    delta.write(tx, code)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _timezone(value) -> str | None:
    if value is None:
        return None
    try:
        if checks.is_text(value, 64) and ".." not in value and not value.startswith("/"):
            _zone(value)
            return value
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        pass
    raise CentralError("invalid_timezone", "timezone must be an IANA time zone name, e.g. America/Lima.", 422)


def _services(value) -> dict | None:
    """``{"ORI": {"name", "target_wait_minutes"}}`` as the box sends it (additive to SPEC's body)."""
    if value is None:
        return None
    bad = CentralError("invalid_services", "services must be {code: {\"name\": text, \"target_wait_minutes\": "
                       "1-1440}}.", 422)
    if not isinstance(value, dict) or len(value) > 200:
        raise bad
    out = {}
    for service_code, item in value.items():
        if not checks.is_text(service_code, 64) or not isinstance(item, dict):
            raise bad
        name, target = item.get("name"), item.get("target_wait_minutes")
        if not checks.optional_text(name, 200) or not (target is None or (
                checks.is_int(target) and target <= 1440)):
            raise bad
        out[service_code] = {"name": name or service_code, "target_wait_minutes": target or DEFAULT_TARGET_MINUTES}
    return out


def _anchor(held: tuple, head: dict | None, last_seq: int, received: str) -> tuple:
    """The epoch's audit anchor after this push: ``(row, hash, seq, received_at)``.

    Kept: the newest head (highest row). Refused (audit_conflict): a head at a row already
    anchored with another hash (the chain was rewritten), or a head below the anchor sent with
    newer events than the anchor's (rows were removed). A lower head with no newer events is an
    older batch arriving late (two processes pushing at once) and changes nothing."""
    row, digest, seq, _ = unchanged = tuple(held)
    if head is None:
        return unchanged
    if row is None or head["row"] > row:
        return head["row"], head["hash"], max(last_seq, seq or 0), received
    if head["row"] == row and head["hash"] != digest:
        raise CentralError("audit_conflict", f"audit row {row} was anchored here with another hash: the box's "
                           "audit trail was rewritten.", 409)
    if head["row"] < row and last_seq > (seq or 0):
        raise CentralError("audit_conflict", f"the audit trail went back from row {row} to {head['row']} while "
                           "events went on: the box's newest audit rows were removed.", 409)
    return unchanged


def _advance(tx, code: str, epoch: str, acked: int) -> int:
    """Walk past events stored earlier beyond a gap that is now filled."""
    while True:
        seqs = [r[0] for r in tx.all("SELECT seq FROM events WHERE sede = ? AND epoch = ? AND seq > ? ORDER BY seq "
                                     "LIMIT 1000", (code, epoch, acked))]
        for seq in seqs:
            if seq != acked + 1:
                return acked
            acked = seq
        if len(seqs) < 1000:
            return acked


def _epoch(value) -> str:
    if value is None:
        return LEGACY_EPOCH
    if not isinstance(value, str) or not checks.UUID.fullmatch(value):
        raise CentralError("invalid_epoch", "epoch must be the box database's UUID.", 422)
    return value.lower()


def _audit_head(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not checks.is_int(value.get("row")) \
            or not isinstance(value.get("hash"), str) or not checks.SHA256_HEX.fullmatch(value["hash"]):
        raise CentralError("invalid_audit_head", "audit_head must be {\"row\": a positive integer, \"hash\": "
                           "64 lowercase hex digits}.", 422)
    return {"row": value["row"], "hash": value["hash"]}


def _event_row(code: str, epoch: str, event, index: int, zone: ZoneInfo) -> tuple:
    def bad(what):
        return CentralError("invalid_event", f"events[{index}].{what}", 422)

    if not isinstance(event, dict):
        raise CentralError("invalid_event", f"events[{index}] is not an object.", 422)
    seq, event_id, event_type, at, data = (event.get(k) for k in ("seq", "id", "type", "at", "data"))
    if not checks.is_int(seq):
        raise bad(f"seq must be an integer from 1 to {checks.MAX_SEQ}.")
    if not checks.is_text(event_id, 64):
        raise bad("id must be a string (at most 64 characters).")
    if not checks.is_text(event_type, 64):
        raise bad("type must be a string (at most 64 characters).")
    if not isinstance(data, dict):
        raise bad("data must be an object.")
    problem = checks.json_problem(data)
    if problem:
        raise bad(f"data {problem}.")
    moment = checks.rfc3339(at)
    if moment is None:
        raise bad("at must be RFC 3339 (extended format) with an offset.")
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else {}
    service = ticket.get("service")
    if not checks.optional_text(service, 64):
        raise bad("data.ticket.service must be a short string.")
    attention = data.get("attention")
    if isinstance(attention, dict):
        for key in ("ticket_id", "service", "counter", "staff", "priority", "outcome"):
            if not checks.optional_text(attention.get(key), 128):
                raise bad(f"data.attention.{key} must be a short string.")
        for key in ("wait_seconds", "service_seconds"):
            if not checks.optional_number(attention.get(key)):
                raise bad(f"data.attention.{key} must be a number.")
    # The service day is the date in the sede's own zone: a box sends ``at`` with that offset
    # already, but a client that sends UTC (``Z``) must not move late-evening events to tomorrow.
    try:
        day = moment.astimezone(zone).date().isoformat()
    except (OverflowError, ValueError):  # year 1 or 9999 at an offset that leaves the calendar
        raise bad("at is out of range.") from None
    return (code, epoch, seq, event_id, event_type, at, day, service,
            json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def _attention_row(row: tuple, event: dict):
    attention = event["data"].get("attention")
    if not isinstance(attention, dict) or not isinstance(attention.get("outcome"), str):
        return None
    return (row[0], row[1], event["seq"], event["id"], attention.get("ticket_id"), attention.get("service"),
            attention.get("counter"), attention.get("staff"), attention.get("priority"), attention["outcome"],
            checks.number_or_none(attention.get("wait_seconds")),
            checks.number_or_none(attention.get("service_seconds")), row[6])


def anchors(db, code: str) -> dict:
    """What the central side holds of a sede, per epoch, newest first: events acknowledged and the
    audit anchor (``turnero audit verify --against-central`` compares with it)."""
    rows = db.all("SELECT epoch, acked_seq, events_received, first_received_at, last_received_at, audit_row, "
                  "audit_hash, audit_received_at FROM epochs WHERE sede = ? ORDER BY last_received_at DESC, epoch",
                  (code,))
    return {"sede": code, "epochs": [
        {"epoch": r[0], "acked_seq": r[1], "events_received": r[2], "first_received_at": r[3],
         "last_received_at": r[4], "audit_head": {"row": r[5], "hash": r[6]} if r[5] is not None else None,
         "audit_received_at": r[7]} for r in rows]}


# ------------------------------------------------------------------ appointments

def import_appointments(db, code: str, appointments: list, progress=None) -> int:
    """Store or update appointments for a sede (each one bumps the sede's version, which is the
    cursor the box pulls with). Errors: unknown_sede (404), invalid_appointment (422).
    ``progress(done, total, "import")``, when given, hears each stored appointment (the CLI's bar)."""
    rows = [_appointment_row(item, index) for index, item in enumerate(appointments)]
    with db.transaction() as tx:
        if tx.one("SELECT 1 FROM sedes WHERE code = ?" + db.lock_clause(), (code,)) is None:
            raise CentralError("unknown_sede", f"No sede {code!r}.", 404)
        for done, row in enumerate(rows, 1):
            if progress is not None:
                progress(done - 1, len(rows), "import")
            version = tx.one("UPDATE sedes SET appointment_version = appointment_version + 1 WHERE code = ? "
                             "RETURNING appointment_version", (code,))[0]
            tx.execute("INSERT INTO appointments (sede, id, service, starts_at, document_type, document_number, name,"
                       " status, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sede, id) DO UPDATE SET"
                       " service = excluded.service, starts_at = excluded.starts_at, document_type ="
                       " excluded.document_type, document_number = excluded.document_number, name = excluded.name,"
                       " status = excluded.status, version = excluded.version", (code, *row, version))
        if progress is not None and rows:
            progress(len(rows), len(rows), "import")
    return len(rows)


def _appointment_row(item, index: int) -> tuple:
    def bad(what):
        return CentralError("invalid_appointment", f"appointments[{index}]: {what}", 422)

    if not isinstance(item, dict):
        raise bad("not an object")
    ident = item.get("id")
    if not (checks.is_text(ident, 64) or checks.is_int(ident)):
        raise bad("id is required (a string of at most 64 characters, or a positive integer)")
    if not checks.is_text(item.get("service"), 64):
        raise bad("service is required")
    if checks.rfc3339(item.get("starts_at")) is None:
        raise bad("starts_at must be an RFC 3339 time (extended format) with an offset")
    status = item.get("status", "booked")
    if status not in APPOINTMENT_STATUSES:
        raise bad(f"status must be one of {', '.join(APPOINTMENT_STATUSES)}")
    document = item.get("document")
    if document is not None and not (isinstance(document, dict) and checks.is_text(document.get("type"), 16)
                                     and checks.is_text(document.get("number"), 32)):
        raise bad("document must be {\"type\", \"number\"}")
    name = item.get("name")
    if not checks.optional_text(name, 200):
        raise bad("name must be a string")
    return (str(item["id"]), item["service"], item["starts_at"], document["type"] if document else None,
            document["number"] if document else None, name, status)


def appointments_since(db, code: str, since: str | None) -> dict:
    """``{"appointments": [...], "cursor"}``: changes after the cursor, oldest change first."""
    if since in (None, ""):
        after = 0
    elif since.isascii() and since.isdigit() and len(since) <= 18:  # fits a BIGINT
        after = int(since)
    else:
        raise CentralError("invalid_cursor", "The cursor is not one this server gave.", 400)
    rows = db.all("SELECT id, service, starts_at, document_type, document_number, name, status, version "
                  "FROM appointments WHERE sede = ? AND version > ? ORDER BY version LIMIT ?",
                  (code, after, APPOINTMENT_PAGE))
    out = []
    for row in rows:
        item = {"id": row[0], "service": row[1], "starts_at": row[2], "status": row[6]}
        if row[3]:
            item["document"] = {"type": row[3], "number": row[4]}
        if row[5]:
            item["name"] = row[5]
        out.append(item)
    return {"appointments": out, "cursor": str(rows[-1][7] if rows else after)}
