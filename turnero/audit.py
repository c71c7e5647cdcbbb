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
