"""Retention: once the central side holds an event and it is older than ``[sync] retention_days``,
the box forgets the personal data in its own copy. Counts and times stay, so reports still add up.

What is removed (SPEC.md: "document, name, notes"; the rest is our reading of it):

- tickets: ``document_type``, ``document_number``, ``name`` and ``cancel_reason`` (free text a
  staff member typed, which may name someone);
- attentions: ``notes`` and ``case_ref`` (the case number leads straight to the person's file;
  the central case system keeps it, the box needs it for nothing once it is synced);
- appointments: ``document_type``, ``document_number``, ``name``;
- the event JSON: the same fields inside every ticket and attention it carries, and the free
  texts of ticket events (a transfer's ``notes``, a cancellation's ``reason``).

Kept: codes, services, priorities, counters, staff usernames, outcomes, result codes and every
time, which is all ``turnero.stats`` reads. Work goes in short transactions so a purge of a
week's backlog never holds the kiosk's write lock for long.
"""
from __future__ import annotations

import json

CHUNK = 500
TICKET_FIELDS = ("document", "name")
ATTENTION_FIELDS = ("notes", "case_ref")
EVENT_TEXT_FIELDS = ("notes", "reason")
TERMINAL = ("done", "no_show", "transferred", "cancelled", "expired")


def scrub(value):
    """A copy of event data without personal fields (tickets are the dicts with a ``public_id``,
    attentions the dicts with an ``outcome`` and a ``ticket_id``)."""
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if not isinstance(value, dict):
        return value
    drop = set()
    if "public_id" in value:
        drop.update(TICKET_FIELDS)
    if "outcome" in value and "ticket_id" in value:
        drop.update(ATTENTION_FIELDS)
    return {key: scrub(item) for key, item in value.items() if key not in drop}


def scrub_event(event_type: str, data: dict) -> dict:
    """An event's data without personal fields, including the free texts a ticket event carries
    beside the ticket (a transfer's ``notes``, a cancellation's ``reason``)."""
    clean = scrub(data)
    if event_type.startswith("ticket."):
        for key in EVENT_TEXT_FIELDS:
            clean.pop(key, None)
    return clean


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
    counts = {"events": 0, "tickets": 0, "attentions": 0, "appointments": 0}

    while True:
        with store.write() as tx:
            rows = tx.all("SELECT seq, type, data FROM events WHERE seq > ? AND seq <= ? AND at < ? "
                          "ORDER BY seq LIMIT ?", (purged_seq, acked_seq, cutoff, CHUNK))
            for row in rows:
                data = json.loads(row["data"])
                clean = scrub_event(row["type"], data)
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
    counts["tickets"] = _chunked(store, (
        "UPDATE tickets SET document_type = NULL, document_number = NULL, name = NULL, cancel_reason = NULL "
        "WHERE rowid IN (SELECT rowid FROM tickets WHERE finished_at < ? AND status IN (" + placeholders + ") "
        "AND (document_number IS NOT NULL OR document_type IS NOT NULL OR name IS NOT NULL "
        "OR cancel_reason IS NOT NULL) LIMIT ?)"), (horizon, *TERMINAL))
    counts["attentions"] = _chunked(store, (
        "UPDATE attentions SET notes = NULL, case_ref = NULL WHERE id IN (SELECT id FROM attentions "
        "WHERE ended_at < ? AND (notes IS NOT NULL OR case_ref IS NOT NULL) LIMIT ?)"), (horizon,))
    # Appointments come from the central side (it has them already): their own time is enough.
    counts["appointments"] = _chunked(store, (
        "UPDATE appointments SET document_type = NULL, document_number = NULL, name = NULL WHERE id IN "
        "(SELECT id FROM appointments WHERE starts_at < ? AND (document_number IS NOT NULL "
        "OR document_type IS NOT NULL OR name IS NOT NULL) LIMIT ?)"), (min(cutoff, horizon),))
    counts["purged_seq"] = purged_seq
    return counts


def _chunked(store, sql: str, params: tuple) -> int:
    total = 0
    while True:
        with store.write() as tx:
            changed = tx.execute(sql, (*params, CHUNK)).rowcount
        total += changed
        if changed < CHUNK:
            return total
