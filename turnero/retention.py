"""Retention: once the central side holds an event and it is older than ``[sync] retention_days``,
the box forgets the personal data in its own copy. Counts and times stay, so reports still add up.

What is personal data is defined once, in :mod:`turnero.audiences` (``PERSONAL`` inside payloads,
``PERSONAL_COLUMNS`` in the tables): the purge removes exactly that, from the rows and from the
JSON of every event. Kept: codes, services, priorities, counters, staff usernames, outcomes,
result codes and every time, which is all ``turnero.stats`` reads. Work goes in short
transactions so a purge of a week's backlog never holds the kiosk's write lock for long.
"""
from __future__ import annotations

import json

from turnero.audiences import PERSONAL_COLUMNS, nothing, without_personal

CHUNK = 500
TERMINAL = ("done", "no_show", "transferred", "cancelled", "expired")


def scrub_event(data: dict) -> dict:
    """An event's data without any personal data."""
    return without_personal(data, nothing)


def purge_personal_data(store, now: float, acked_seq: int, retention_days: int, purged_seq: int = 0) -> dict:
    """Remove personal data older than the retention from what the central side has acknowledged.

    ``purged_seq`` is how far earlier runs got through the events (so each event is rewritten
    once). Returns counts and the new ``purged_seq``.
    """
    cutoff = now - retention_days * 86400
    # Rows may only be scrubbed if every event about them is acknowledged: the first event not yet
    # acknowledged bounds what "synced" means in time as well as in seq.
    first_unacked = store.read_one("SELECT at FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (acked_seq,))
    horizon = min(cutoff, first_unacked[0]) if first_unacked else cutoff
    counts = {"events": 0, "tickets": 0, "attentions": 0, "appointments": 0, "ratings": 0}

    while True:
        with store.write() as tx:
            rows = tx.all("SELECT seq, type, data FROM events WHERE seq > ? AND seq <= ? AND at < ? "
                          "ORDER BY seq LIMIT ?", (purged_seq, acked_seq, cutoff, CHUNK))
            for row in rows:
                data = json.loads(row["data"])
                clean = scrub_event(data)
                if clean != data:
                    tx.execute("UPDATE events SET data = ? WHERE seq = ?",
                               (json.dumps(clean, ensure_ascii=False, separators=(",", ":")), row["seq"]))
                    counts["events"] += 1
        if not rows:
            break
        purged_seq = rows[-1]["seq"]
        if len(rows) < CHUNK:
            break

    placeholders = ",".join("?" * len(TERMINAL))
    counts["tickets"] = _chunked(store, _clear("tickets", "rowid", "finished_at < ? AND status IN ("
                                               + placeholders + ")"), (horizon, *TERMINAL))
    counts["attentions"] = _chunked(store, _clear("attentions", "id", "ended_at < ?"), (horizon,))
    # Appointments come from the central side (it has them already): their own time is enough.
    counts["appointments"] = _chunked(store, _clear("appointments", "id", "starts_at < ?"),
                                      (min(cutoff, horizon),))
    counts["ratings"] = _chunked(store, _clear("ratings", "public_id", "rated_at < ?"), (horizon,))
    counts["purged_seq"] = purged_seq
    if any(count for key, count in counts.items() if key != "purged_seq"):
        store.checkpoint()
    return counts


def _clear(table: str, key: str, condition: str) -> str:
    """One chunk of clearing ``table``'s personal columns in rows matching ``condition``."""
    columns = PERSONAL_COLUMNS[table]
    return (f"UPDATE {table} SET {', '.join(f'{column} = NULL' for column in columns)} WHERE {key} IN "
            f"(SELECT {key} FROM {table} WHERE {condition} AND "
            f"({' OR '.join(f'{column} IS NOT NULL' for column in columns)}) LIMIT ?)")


def _chunked(store, sql: str, params: tuple) -> int:
    total = 0
    while True:
        with store.write() as tx:
            changed = tx.execute(sql, (*params, CHUNK)).rowcount
        total += changed
        if changed < CHUNK:
            return total
