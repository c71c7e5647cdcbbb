"""The audit trail: who did what, when, from where; append-only and hash-chained.

The web layer (or the CLI) describes the action about to run with :func:`pending`; the store
writes that description inside the action's own transaction (:func:`append` from
``Store.write``), so an action and its audit row commit or vanish together and cost no extra
disk flush. Each row carries ``hash = sha256(prev_hash + canonical row)``: editing, deleting or
reordering rows breaks the chain, which :func:`verify` (``turnero audit verify``) detects.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
from contextlib import contextmanager

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor", "role", "action", "target", "client", "details", "prev_hash")
_pending: contextvars.ContextVar = contextvars.ContextVar("turnero_audit", default=None)


@contextmanager
def pending(actor: str, role: str, action: str, target: str | None = None, client: str | None = None,
            details: dict | None = None):
    """Describe the action the enclosed code performs; its first write transaction records it."""
    token = _pending.set({"actor": actor, "role": role, "action": action, "target": target, "client": client,
                          "details": details or {}})
    try:
        yield
    finally:
        _pending.reset(token)


def set_pending(entry: dict | None):
    """For request hooks that cannot wrap the view in a ``with``: set (or clear) the entry."""
    _pending.set(entry)


def take_pending() -> dict | None:
    entry = _pending.get()
    if entry is not None:
        _pending.set(None)  # one audit row per action, even if it writes twice
    return entry


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
    row = {"id": (last["id"] + 1) if last else 1, "at": tx.now, "actor": entry["actor"], "role": entry["role"],
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
        take_pending()
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
