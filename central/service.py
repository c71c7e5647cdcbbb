"""What the central receiver does, as plain functions over :class:`central.db.Database`:
register sedes and their tokens, ingest a batch of events, keep and serve appointments.

Errors are :class:`CentralError` with a stable code and an HTTP status; the web layer only
translates them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime, timezone

MAX_BATCH = 500
APPOINTMENT_PAGE = 500
SEDE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
APPOINTMENT_STATUSES = ("booked", "cancelled")


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
    rows = db.all("SELECT code, name, acked_seq, events_received, last_received_at, created_at FROM sedes "
                  "ORDER BY code")
    return [{"code": r[0], "name": r[1], "acked_seq": r[2], "events_received": r[3], "last_received_at": r[4],
             "created_at": r[5]} for r in rows]


def authenticate(db, code: str, authorization: str | None) -> None:
    """Errors: missing_token (401), unknown_sede (404), invalid_token (401), wrong_sede (403)."""
    if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
        raise CentralError("missing_token", "Send the sede token as 'Authorization: Bearer <token>'.", 401)
    row = db.one("SELECT token_hash FROM sedes WHERE code = ?", (code,))
    if row is None:
        raise CentralError("unknown_sede", f"No sede {code!r} is registered here.", 404)
    given = token_hash(authorization[7:].strip())
    if hmac.compare_digest(given, row[0]):
        return
    if db.one("SELECT 1 FROM sedes WHERE token_hash = ?", (given,)):
        raise CentralError("wrong_sede", "This token belongs to another sede.", 403)
    raise CentralError("invalid_token", "The token is not valid for this sede.", 401)


# ------------------------------------------------------------------ events

def ingest(db, code: str, body) -> int:
    """Store a contiguous batch, each ``(sede, seq)`` once, in one transaction; return ``acked_seq``:
    the highest seq held with no gap from 1.

    Errors: bad_request (400: not an object, no event list); sede_mismatch, invalid_event,
    non_contiguous_batch (422); batch_too_large (413); seq_conflict (409: a seq already held with
    another event id, e.g. a box restored from an old backup).
    """
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise CentralError("bad_request", "The body must be {\"sede\": ..., \"events\": [...]}.", 400)
    if body.get("sede") != code:
        raise CentralError("sede_mismatch", "The body's sede does not match the URL.", 422)
    events = body["events"]
    if len(events) > MAX_BATCH:
        raise CentralError("batch_too_large", f"At most {MAX_BATCH} events per batch.", 413)
    rows = [_event_row(code, event, index) for index, event in enumerate(events)]
    for previous, current in zip(rows, rows[1:]):
        if current[1] != previous[1] + 1:
            raise CentralError("non_contiguous_batch", f"seq {current[1]} follows {previous[1]}: a batch must be "
                               "ascending and contiguous.", 422)
    received = now_text()
    with db.transaction() as tx:
        acked = tx.one("SELECT acked_seq FROM sedes WHERE code = ?" + db.lock_clause(), (code,))[0]
        if not rows:
            return acked
        first, last = rows[0][1], rows[-1][1]
        held = dict(tx.all("SELECT seq, id FROM events WHERE sede = ? AND seq >= ? AND seq <= ?", (code, first, last)))
        for row in rows:
            if row[1] in held and held[row[1]] != row[2]:
                raise CentralError("seq_conflict", f"seq {row[1]} is already held with another event id; this "
                                   "box's history differs from what was received before.", 409)
        new = [row for row in rows if row[1] not in held]
        if new:
            tx.executemany("INSERT INTO events (sede, seq, id, type, at, day, service, data, received_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*row, received) for row in new])
            attentions = [a for a in (_attention_row(code, event) for event in _by_seq(events, new)) if a]
            if attentions:
                tx.executemany("INSERT INTO attentions (sede, seq, ticket_id, service, counter, staff, priority, "
                               "outcome, wait_seconds, service_seconds, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               attentions)
        if first <= acked + 1 < last + 1:
            acked = last
        acked = _advance(tx, code, acked)
        tx.execute("UPDATE sedes SET acked_seq = ?, events_received = events_received + ?, last_received_at = ? "
                   "WHERE code = ?", (acked, len(new), received, code))
    return acked


def _advance(tx, code: str, acked: int) -> int:
    """Walk past events stored earlier beyond a gap that is now filled."""
    while True:
        seqs = [r[0] for r in tx.all("SELECT seq FROM events WHERE sede = ? AND seq > ? ORDER BY seq LIMIT 1000",
                                     (code, acked))]
        for seq in seqs:
            if seq != acked + 1:
                return acked
            acked = seq
        if len(seqs) < 1000:
            return acked


def _event_row(code: str, event, index: int) -> tuple:
    if not isinstance(event, dict):
        raise CentralError("invalid_event", f"events[{index}] is not an object.", 422)
    seq, event_id, event_type, at, data = (event.get(k) for k in ("seq", "id", "type", "at", "data"))
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise CentralError("invalid_event", f"events[{index}].seq must be a positive integer.", 422)
    if not isinstance(event_id, str) or not event_id or len(event_id) > 64:
        raise CentralError("invalid_event", f"events[{index}].id must be a string.", 422)
    if not isinstance(event_type, str) or not event_type or len(event_type) > 64:
        raise CentralError("invalid_event", f"events[{index}].type must be a string.", 422)
    if not isinstance(data, dict):
        raise CentralError("invalid_event", f"events[{index}].data must be an object.", 422)
    try:
        moment = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise CentralError("invalid_event", f"events[{index}].at must be RFC 3339 with an offset.", 422)
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else {}
    service = ticket.get("service") if isinstance(ticket.get("service"), str) else None
    # ``at`` carries the sede's own offset, so its date is the sede's service day.
    return (code, seq, event_id, event_type, at, at[:10], service,
            json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def _by_seq(events: list, rows: list):
    wanted = {row[1] for row in rows}
    return [event for event in events if event["seq"] in wanted]


def _attention_row(code: str, event: dict):
    attention = event["data"].get("attention")
    if not isinstance(attention, dict) or not isinstance(attention.get("outcome"), str):
        return None
    return (code, event["seq"], attention.get("ticket_id"), attention.get("service"), attention.get("counter"),
            attention.get("staff"), attention.get("priority"), attention["outcome"],
            _number(attention.get("wait_seconds")), _number(attention.get("service_seconds")), event["at"][:10])


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ------------------------------------------------------------------ appointments

def import_appointments(db, code: str, appointments: list) -> int:
    """Store or update appointments for a sede (each one bumps the sede's version, which is the
    cursor the box pulls with). Errors: unknown_sede (404), invalid_appointment (422)."""
    rows = [_appointment_row(item, index) for index, item in enumerate(appointments)]
    with db.transaction() as tx:
        if tx.one("SELECT 1 FROM sedes WHERE code = ?" + db.lock_clause(), (code,)) is None:
            raise CentralError("unknown_sede", f"No sede {code!r}.", 404)
        for row in rows:
            version = tx.one("UPDATE sedes SET appointment_version = appointment_version + 1 WHERE code = ? "
                             "RETURNING appointment_version", (code,))[0]
            tx.execute("INSERT INTO appointments (sede, id, service, starts_at, document_type, document_number, name,"
                       " status, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sede, id) DO UPDATE SET"
                       " service = excluded.service, starts_at = excluded.starts_at, document_type ="
                       " excluded.document_type, document_number = excluded.document_number, name = excluded.name,"
                       " status = excluded.status, version = excluded.version", (code, *row, version))
    return len(rows)


def _appointment_row(item, index: int) -> tuple:
    def bad(what):
        return CentralError("invalid_appointment", f"appointments[{index}]: {what}", 422)

    if not isinstance(item, dict):
        raise bad("not an object")
    if not isinstance(item.get("id"), (str, int)) or isinstance(item.get("id"), bool) or str(item["id"]) == "":
        raise bad("id is required")
    if not isinstance(item.get("service"), str) or not item["service"]:
        raise bad("service is required")
    try:
        moment = datetime.fromisoformat(item.get("starts_at"))
    except (TypeError, ValueError):
        raise bad("starts_at must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise bad("starts_at needs an offset")
    status = item.get("status", "booked")
    if status not in APPOINTMENT_STATUSES:
        raise bad(f"status must be one of {', '.join(APPOINTMENT_STATUSES)}")
    document = item.get("document")
    if document is not None and not (isinstance(document, dict) and isinstance(document.get("type"), str)
                                     and isinstance(document.get("number"), str)):
        raise bad("document must be {\"type\", \"number\"}")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise bad("name must be a string")
    return (str(item["id"]), item["service"], item["starts_at"], document["type"] if document else None,
            document["number"] if document else None, name, status)


def appointments_since(db, code: str, since: str | None) -> dict:
    """``{"appointments": [...], "cursor"}``: changes after the cursor, oldest change first."""
    if since in (None, ""):
        after = 0
    elif since.isdigit():
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
