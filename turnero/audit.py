"""The audit trail: who did what, when, from where; append-only and hash-chained, covering the
events (and through them the attention records) and anchored at the central side.

The web layer (or the CLI) describes the action about to run (:func:`describe`) and hands that
entry to the engine call that performs it; the store writes it inside the action's own
transaction (``Store.write(audit=entry)`` calls :func:`append`), so an action and its audit row
commit or vanish together and cost no extra disk flush; no other write can take it. Each row
carries ``hash = sha256(prev_hash + canonical row)``: editing, deleting or reordering rows breaks
the chain, which :func:`verify` (``turnero audit verify``) detects.

Events are covered too. Every transaction that appends events appends one audit row (with the
action's entry, or a system entry such as the midnight roll-over's) whose details name the event
seqs (``events``) and carry ``events_sha256``: the SHA-256 of those events' canonical JSON in the
form the retention purge leaves (personal data removed, :func:`events_digest`), so a purge never
breaks it. An event's ``data.attention`` is the attention record, so attentions are covered, and
:func:`verify` also holds the ``attentions`` table to its events. What verify checks:

- the chain (as above);
- from where coverage starts (1, or the first event after an upgrade, recorded in the trail by
  a ``system`` row), the covering rows name every event seq exactly once, in order;
- each covering row's hash equals the one recomputed from the ``events`` table (an edited,
  added or deleted event shows);
- each attention row matches its event's attention (service, counter, staff, priority, outcome,
  result, times; notes and case number when both still hold them) and no attention row lacks an
  event;
- the database's epoch is the last one its trail recorded (an upgrade or a restore records it).

Rewriting the whole trail consistently (or deleting its newest rows together with their events)
cannot be seen from the box alone: each sync batch carries the chain head (:func:`head`) to the
central side, which keeps the latest per sede and epoch and refuses a head that goes back;
``turnero audit verify --against-central`` compares the local trail with that anchor
(:func:`against_central`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import datetime

from turnero.audiences import nothing, without_personal

log = logging.getLogger(__name__)
GENESIS = "0" * 64
FIELDS = ("id", "at", "actor", "role", "action", "target", "client", "details", "prev_hash")
# The system row an upgrade writes: events before ``events_from_seq`` predate the coverage.
COVERAGE_START = "epoch.created"
ATTENTION_FIELDS = ("service", "counter", "staff", "priority", "wait_seconds", "service_seconds", "outcome",
                    "result")
ATTENTION_TIMES = ("issued_at", "called_at", "started_at")
ATTENTION_PERSONAL = ("notes", "case_ref")


def describe(actor: str, role: str, action: str, target: str | None = None, client: str | None = None,
             details: dict | None = None) -> dict:
    """The audit entry of an action, to pass to the write that performs it."""
    return {"actor": actor, "role": role, "action": action, "target": target, "client": client,
            "details": details or {}}


def with_details(entry: dict, name: str, details) -> dict:
    """``entry`` with ``details`` added under ``name`` (what the action changed; the entry's own
    details kept). ``details`` is kept as the same object: a caller may complete it later."""
    return {**entry, "details": {**(entry.get("details") or {}), name: details}}


def row_hash(row: dict) -> str:
    canonical = json.dumps({key: row[key] for key in FIELDS}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256((row["prev_hash"] + canonical).encode()).hexdigest()


def system_entry(events: list[dict]) -> dict:
    """The entry of a transaction that appends events on nobody's request (the roll-over)."""
    kinds = sorted({event["type"] for event in events})
    return describe("system", "system", ",".join(kinds)[:200])


def canonical_event(seq: int, event_id: str, event_type: str, at: float, data: dict) -> dict:
    """An event as the audit trail covers it: without personal data (what the purge leaves)."""
    return {"seq": seq, "id": event_id, "type": event_type, "at": float(at), "data": without_personal(data, nothing)}


def events_digest(events: list[dict]) -> str:
    """SHA-256 of the canonical JSON of events (``seq``, ``id``, ``type``, ``at``, ``data``)."""
    canonical = [canonical_event(e["seq"], e["id"], e["type"], e["at"], e["data"]) for e in events]
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def append(tx, entry: dict, events: list[dict] | None = None) -> dict:
    """Append one row inside the caller's transaction (which holds the write lock), covering the
    ``events`` that transaction appended."""
    last = tx.one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    details = dict(entry.get("details") or {})
    if events:
        details["events"] = [event["seq"] for event in events]
        details["events_sha256"] = events_digest(events)
    row = {"id": (last["id"] + 1) if last else 1, "at": entry.get("at", tx.now), "actor": entry["actor"],
           "role": entry["role"],
           "action": entry["action"], "target": entry.get("target"), "client": entry.get("client"),
           "details": json.dumps(details, sort_keys=True, ensure_ascii=False),
           "prev_hash": last["hash"] if last else GENESIS}
    row["hash"] = row_hash(row)
    tx.execute("INSERT INTO audit_log (id, at, actor, role, action, target, client, details, prev_hash, hash)"
               " VALUES (:id, :at, :actor, :role, :action, :target, :client, :details, :prev_hash, :hash)", row)
    return row


def record(store, entry: dict) -> dict:
    """Record an action that writes nothing else (e.g. a refused login)."""
    with store.write() as tx:
        return append(tx, entry)


def head(store) -> dict | None:
    """The chain head ``{"row", "hash"}`` each sync batch carries (None while the trail is empty)."""
    row = store.read_one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    return {"row": row["id"], "hash": row["hash"]} if row else None


def verify(store) -> tuple[bool, int, str]:
    """Walk the chain and what it covers: (intact, rows checked, what is wrong or 'ok')."""
    conn = store.connect()
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one snapshot: a write committed meanwhile is not half seen
    try:
        return _verify(conn)
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")


def _verify(conn) -> tuple[bool, int, str]:
    coverage = _Coverage(conn)
    rows = conn.execute("SELECT * FROM audit_log ORDER BY id")
    try:
        previous, count, expected_id = GENESIS, 0, 1
        for raw in rows:
            row = dict(raw)
            if row["id"] != expected_id:
                return False, count, f"row {expected_id} is missing (next is {row['id']})"
            if row["prev_hash"] != previous:
                return False, count, f"row {row['id']} does not follow row {row['id'] - 1}"
            if row_hash(row) != row["hash"]:
                return False, count, f"row {row['id']} was altered"
            problem = coverage.row(row)
            if problem:
                return False, count, problem
            previous, count, expected_id = row["hash"], count + 1, expected_id + 1
        problem = coverage.finish()
        return (False, count, problem) if problem else (True, count, "ok")
    finally:
        rows.close()
        coverage.events.close()


class _Coverage:
    """The events (and attention records) the chain covers, walked beside it in seq order."""

    def __init__(self, conn):
        self.conn = conn
        starts = conn.execute("SELECT id, at, details FROM audit_log WHERE action = ? AND actor = 'system' "
                              "ORDER BY id LIMIT 2", (COVERAGE_START,)).fetchall()
        self.problem = None
        self.start_row, self.start_at, self.next_seq = 1, None, 1
        if starts:
            first = _details(starts[0]["details"]).get("events_from_seq")
            self.start_row, self.start_at = starts[0]["id"], starts[0]["at"]
            self.next_seq = first if isinstance(first, int) and first > 0 else 1
            if len(starts) > 1:
                self.problem = f"rows {starts[0]['id']} and {starts[1]['id']} both start the coverage of events"
        self.epoch = None
        self.events = conn.execute("SELECT seq, id, type, at, data FROM events WHERE seq >= ? ORDER BY seq",
                                   (self.next_seq,))

    def row(self, row: dict) -> str | None:
        if self.problem:
            return self.problem
        details = _details(row["details"])
        renewed = details.get("epoch_renewed")
        if isinstance(renewed, dict):
            self.epoch = renewed.get("to")
        elif row["actor"] == "system" and details.get("epoch_created"):
            self.epoch = details["epoch_created"]
        seqs = details.get("events")
        if row["id"] < self.start_row or not seqs:
            return None  # before the coverage began (an upgraded database), or no events
        sealed = details.get("events_sha256")
        if not isinstance(seqs, list) or not isinstance(sealed, str):
            return f"row {row['id']} names events without sealing them"
        if seqs != list(range(self.next_seq, self.next_seq + len(seqs))):
            return f"row {row['id']} covers events {seqs[0]}-{seqs[-1]}, but event {self.next_seq} comes next"
        events = []
        for seq in seqs:
            event = self.events.fetchone()
            if event is None or event["seq"] != seq:
                return f"event {seq} is missing (covered by row {row['id']})"
            try:
                data = json.loads(event["data"])
            except ValueError:
                return f"event {seq} is unreadable (covered by row {row['id']})"
            events.append({"seq": seq, "id": event["id"], "type": event["type"], "at": event["at"], "data": data})
        if events_digest(events) != sealed:
            which = f"event {seqs[0]} differs" if len(seqs) == 1 else f"events {seqs[0]}-{seqs[-1]} differ"
            return f"{which} from what row {row['id']} sealed (edited)"
        for event in events:
            problem = self._attention(event)
            if problem:
                return problem
        self.next_seq += len(seqs)
        return None

    def _attention(self, event: dict) -> str | None:
        attention = event["data"].get("attention") if isinstance(event["data"], dict) else None
        if not isinstance(attention, dict) or "ticket_id" not in attention:
            return None
        rows = self.conn.execute("SELECT * FROM attentions WHERE ended_at = ? AND ticket_id = ?",
                                 (event["at"], attention["ticket_id"])).fetchall()
        if len(rows) != 1:
            return f"the attention record of event {event['seq']} is {'missing' if not rows else 'duplicated'}"
        row = rows[0]
        if any(row[key] != attention.get(key) for key in ATTENTION_FIELDS) \
                or not all(_same_time(attention.get(key), row[key]) for key in ATTENTION_TIMES) \
                or any(row[key] is not None and attention.get(key) is not None and row[key] != attention[key]
                       for key in ATTENTION_PERSONAL):  # either may have been purged already
            return f"attention record {row['id']} differs from event {event['seq']} (edited)"
        return None

    def finish(self) -> str | None:
        if self.problem:
            return self.problem
        extra = self.events.fetchone()
        if extra is not None:
            return f"event {extra['seq']} is not covered by the audit trail (added, or its audit row removed)"
        orphan = self.conn.execute(
            "SELECT a.id, a.ticket_id FROM attentions a WHERE a.ended_at >= ? AND NOT EXISTS (SELECT 1 FROM events e"
            " WHERE e.at = a.ended_at AND json_extract(e.data, '$.attention.ticket_id') = a.ticket_id)"
            " ORDER BY a.id LIMIT 1", (self.start_at if self.start_at is not None else float("-inf"),)).fetchone()
        if orphan is not None:
            return f"attention record {orphan['id']} has no event (added)"
        if self.epoch is not None:
            current = self.conn.execute("SELECT epoch FROM box_identity WHERE id = 1").fetchone()
            if current is None or current[0] != self.epoch:
                return f"the database's epoch is not the one its trail recorded last ({self.epoch})"
        return None


def _details(text) -> dict:
    try:
        details = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return details if isinstance(details, dict) else {}


def _same_time(text, timestamp) -> bool:
    """Is ``text`` (RFC 3339, as an event carries it) the time ``timestamp`` (a table's seconds)?"""
    if text is None or timestamp is None:
        return text is None and timestamp is None
    try:
        zone = datetime.fromisoformat(text).tzinfo
    except (TypeError, ValueError):
        return False
    return datetime.fromtimestamp(timestamp, zone).isoformat(timespec="milliseconds") == text


def against_central(store, epoch: str, anchors: list[dict]) -> tuple[bool, str]:
    """Compare the local trail with the anchors the central side holds for this sede
    (``[{"epoch", "acked_seq", "audit_head": {"row", "hash"} | None, "last_received_at"}]``).

    Returns (agrees, one line). The newest rows of the trail (since the last batch the central
    side received) cannot be compared: nothing of them has left the box yet."""
    mine = next((anchor for anchor in anchors if anchor.get("epoch") == epoch), None)
    if mine is None or not mine.get("audit_head"):
        others = [anchor["epoch"] for anchor in anchors if anchor.get("epoch") != epoch]
        if others:
            return False, (f"the central side holds no anchor for this database (epoch {epoch}) but has this "
                           f"sede's events under {', '.join(others)}: this database was restored, reinstalled or "
                           "replaced since; send its events (turnero sync --once) and verify again")
        return True, "the central side holds nothing of this sede yet: nothing to compare"
    anchored = mine["audit_head"]
    row = store.read_one("SELECT hash FROM audit_log WHERE id = ?", (anchored["row"],))
    last = store.read_one("SELECT MAX(id) FROM audit_log")[0] or 0
    if row is None:
        return False, (f"the central side received audit row {anchored['row']} of this database, which now ends at "
                       f"row {last}: its newest rows were removed")
    if row["hash"] != anchored["hash"]:
        return False, (f"audit row {anchored['row']} is not the one the central side received: the trail was "
                       "rewritten")
    last_seq = store.read_one("SELECT MAX(seq) FROM events")[0] or 0
    if (mine.get("acked_seq") or 0) > last_seq:
        return False, (f"the central side holds events up to seq {mine['acked_seq']} of this database, which now "
                       f"ends at seq {last_seq}: its newest events were removed")
    return True, (f"agrees with the central side's anchor (row {anchored['row']}, events up to seq "
                  f"{mine.get('acked_seq') or 0}; epoch {epoch})")


def entries(store, limit: int = 200) -> list[dict]:
    rows = store.read("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", (limit,))
    return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


class ReadLog:
    """Reads of personal data (who read whose data, when), recorded in the audit trail a moment
    later, many in one transaction: a read must not cost a disk flush on the request path. A
    crash can lose the last second of read records, never an action's."""

    FLUSH_SECONDS = 1.0
    MAX_PENDING = 5000  # past this, the reader waits for a flush rather than the log growing

    def __init__(self, store):
        self.store = store
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, entry: dict) -> None:
        entry = {**entry, "at": entry.get("at", self.store.clock())}
        with self._lock:
            self._pending.append(entry)
            backlog = len(self._pending)
        if self._thread is None or backlog >= self.MAX_PENDING:
            self.flush()  # no flusher (tests, CLI), or it cannot keep up

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="turnero-read-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def flush(self) -> int:
        with self._lock:
            entries, self._pending = self._pending, []
        if entries:
            try:
                with self.store.write() as tx:
                    for entry in entries:
                        append(tx, entry)
            except BaseException:
                with self._lock:  # kept for the next flush
                    self._pending = entries + self._pending
                raise
        return len(entries)

    def _run(self):
        while not self._stop.wait(self.FLUSH_SECONDS):
            try:
                self.flush()
            except Exception:  # a full disk or a long lock: the entries wait for the next second
                log.exception("could not record reads of personal data; will retry")
