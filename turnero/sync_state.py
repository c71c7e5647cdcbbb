"""The agent's durable state: one row of ``sync_state`` in the box's database.

Kept in the database, not in memory, so a restart, a second process (``turnero sync --once``
while the server runs) and ``/healthz`` all see the same acknowledged point and error.
"""
from __future__ import annotations

import hashlib

STATES = ("disabled", "ok", "retrying", "stopped")


def settings_fingerprint(sede_code: str, sync_settings: dict) -> str:
    """What a stop is tied to: a change of URL, token or sede lifts it. Hashed: the token is secret."""
    material = "\0".join((sede_code, sync_settings.get("central_url") or "", sync_settings.get("token") or ""))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


class SyncState:
    def __init__(self, store):
        self.store = store

    def row(self) -> dict:
        return dict(self.store.read_one("SELECT * FROM sync_state WHERE id = 1"))

    def acked_seq(self) -> int:
        return self.store.read_one("SELECT acked_seq FROM sync_state WHERE id = 1")[0]

    def _update(self, assignments: str, params=(), audit: dict | None = None):
        with self.store.write(audit=audit) as tx:
            tx.execute(f"UPDATE sync_state SET {assignments} WHERE id = 1", params)

    def record_ack(self, acked_seq: int, now: float):
        """The central side holds everything up to ``acked_seq`` (it may be lower than before: a gap)."""
        self._update("acked_seq = ?, last_success = ?, state = 'ok'", (acked_seq, now))

    def record_success(self, now: float):
        self._update("last_success = ?, state = 'ok'", (now,))

    def record_retry(self, message: str, now: float):
        self._update("state = 'retrying', last_error = ?, last_error_at = ?", (message, now))

    def record_stop(self, message: str, fingerprint: str, now: float):
        self._update("state = 'stopped', stopped_settings = ?, last_error = ?, last_error_at = ?",
                     (fingerprint, message, now))

    def lift_stop(self, audit: dict | None = None):
        """Leave ``stopped`` (box restart, settings changed, or ``turnero sync --once``); the error stays
        visible until the next success replaces the state."""
        self._update("state = CASE WHEN state = 'stopped' THEN 'retrying' ELSE state END, stopped_settings = NULL",
                     audit=audit)

    def set_cursor(self, cursor: str | None, now: float):
        self._update("appointment_cursor = ?, last_pull = ?", (cursor, now))

    def set_purged(self, seq: int, now: float):
        self._update("purged_seq = MAX(purged_seq, ?), last_purge = ?", (seq, now))


def status(engine, sync_settings: dict) -> dict:
    """The sync part of /healthz and ``turnero sync --status``."""
    row = SyncState(engine.store).row()
    acked = row["acked_seq"]
    last = engine.last_seq()
    oldest = engine.store.read_one("SELECT at FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (acked,))
    now = engine.clock()
    state = row["state"] if sync_settings.get("central_url") else "disabled"
    return {
        "state": state,
        "backlog": max(0, last - acked),
        "acked_seq": acked,
        "last_seq": last,
        "last_success": engine.clock.rfc3339(row["last_success"]),
        "last_error": row["last_error"] if state != "disabled" else None,
        "last_error_at": engine.clock.rfc3339(row["last_error_at"]),
        "oldest_unsynced_age_seconds": round(max(0.0, now - oldest[0]), 1) if oldest else None,
    }
