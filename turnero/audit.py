"""The audit trail: who did what, when, from where; append-only and hash-chained.

The web layer (or the CLI) describes the action about to run (:func:`describe`) and hands that
entry to the engine call that performs it; the store writes it inside the action's own
transaction (``Store.write(audit=entry)`` calls :func:`append`), so an action and its audit row
commit or vanish together and cost no extra disk flush; no other write can take it. Each row
carries ``hash = sha256(prev_hash + canonical row)``: editing, deleting or reordering rows breaks
the chain, which :func:`verify` (``turnero audit verify``) detects.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading

log = logging.getLogger(__name__)
GENESIS = "0" * 64
FIELDS = ("id", "at", "actor", "role", "action", "target", "client", "details", "prev_hash")


def describe(actor: str, role: str, action: str, target: str | None = None, client: str | None = None,
             details: dict | None = None) -> dict:
    """The audit entry of an action, to pass to the write that performs it."""
    return {"actor": actor, "role": role, "action": action, "target": target, "client": client,
            "details": details or {}}


def row_hash(row: dict) -> str:
    canonical = json.dumps({key: row[key] for key in FIELDS}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256((row["prev_hash"] + canonical).encode()).hexdigest()


def append(tx, entry: dict, event_seqs: list[int] | None = None) -> dict:
    """Append one row inside the caller's transaction (which holds the write lock)."""
    last = tx.one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    details = dict(entry.get("details") or {})
    if event_seqs:
        details["events"] = event_seqs
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


def verify(store) -> tuple[bool, int, str]:
    """Walk the chain: (intact, rows checked, what is wrong or 'ok')."""
    previous, count, expected_id = GENESIS, 0, 1
    for raw in store.read("SELECT * FROM audit_log ORDER BY id"):
        row = dict(raw)
        if row["id"] != expected_id:
            return False, count, f"row {expected_id} is missing (next is {row['id']})"
        if row["prev_hash"] != previous:
            return False, count, f"row {row['id']} does not follow row {row['id'] - 1}"
        if row_hash(row) != row["hash"]:
            return False, count, f"row {row['id']} was altered"
        previous, count, expected_id = row["hash"], count + 1, expected_id + 1
    return True, count, "ok"


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
