"""The print spool over the ``print_jobs`` table: claim, settle and queue jobs.

Plain Python over the store (no escpos, no Flask). The engine inserts a job in the same
transaction that issues a ticket; the printer worker claims due jobs here, and settles each one
as printed or failed. ``tickets.print_status`` mirrors the latest job of the ticket:

- ``queued`` while a job waits or is being retried;
- ``failed`` as soon as an attempt fails (the kiosk and staff learn it at once; retries go on);
- ``printed`` when an attempt succeeds.

A status change is device state, not a ticket transition, so it appends no event: the event
sequence is the sede's audit and sync record of what people did (SPEC.md lists its types). Its
writes are not flushed to disk one by one (``durable=False``): after a power cut a job may be
printed again, never lost, and the ticket's issue, which queued it, was flushed.
"""
from __future__ import annotations

from turnero.errors import DomainError, conflict, not_found

MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 2
BACKOFF_CAP_SECONDS = 30
# A slip nobody is waiting for any more (the person left the kiosk) is not worth printing late:
# staff reprint it from the console if needed.
STALE_AFTER_SECONDS = 180
REPRINTABLE = ("waiting", "called", "serving")


def backoff_seconds(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: 2, 4, 8, 16, 30, 30 ..."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))


def claim_due_job(store, now: float | None = None):
    """Take the oldest due job (``queued`` -> ``printing``); None when nothing is due.

    Jobs past :data:`STALE_AFTER_SECONDS` are given up as failed instead of being printed.
    """
    with store.write(durable=False) as tx:
        now = tx.now if now is None else now
        stale = tx.all("SELECT id, ticket_id FROM print_jobs WHERE status = 'queued' AND created_at < ?",
                       (now - STALE_AFTER_SECONDS,))
        for job in stale:
            tx.execute("UPDATE print_jobs SET status = 'failed', last_error = COALESCE(last_error, 'stale') "
                       "WHERE id = ?", (job["id"],))
            _mirror(tx, job["ticket_id"], "failed")
        job = tx.one("SELECT * FROM print_jobs WHERE status = 'queued' AND next_attempt_at <= ? "
                     "ORDER BY next_attempt_at, id LIMIT 1", (now,))
        if job is None:
            return None
        tx.execute("UPDATE print_jobs SET status = 'printing', attempts = attempts + 1 WHERE id = ?", (job["id"],))
        return dict(tx.one("SELECT * FROM print_jobs WHERE id = ?", (job["id"],)))


def mark_printed(store, job_id: int) -> None:
    with store.write(durable=False) as tx:
        job = tx.one("SELECT ticket_id FROM print_jobs WHERE id = ?", (job_id,))
        tx.execute("UPDATE print_jobs SET status = 'printed', printed_at = ?, last_error = NULL WHERE id = ?",
                   (tx.now, job_id))
        _mirror(tx, job["ticket_id"], "printed")


def mark_failed(store, job_id: int, error: str, retry: bool = True) -> bool:
    """Record a failed attempt; returns True when the job will be retried."""
    with store.write(durable=False) as tx:
        job = tx.one("SELECT * FROM print_jobs WHERE id = ?", (job_id,))
        retry = retry and job["attempts"] < MAX_ATTEMPTS
        tx.execute("UPDATE print_jobs SET status = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                   ("queued" if retry else "failed", error[:500], tx.now + backoff_seconds(job["attempts"]),
                    job_id))
        _mirror(tx, job["ticket_id"], "failed")
        return retry


def release_interrupted(store) -> int:
    """Jobs left ``printing`` by a stopped box go back to the queue (a duplicate slip beats none)."""
    with store.write(durable=False) as tx:
        return tx.execute("UPDATE print_jobs SET status = 'queued' WHERE status = 'printing'").rowcount


def queue_reprint(store, ticket_id: str, printer_type: str, audit: dict | None = None) -> int:
    """Queue one more print of a ticket (staff). Errors: unknown_ticket (404), printer_disabled,
    wrong_state (409)."""
    if printer_type == "none":
        raise conflict("printer_disabled", "Esta sede no tiene impresora configurada.")
    with store.write(audit=audit) as tx:
        ticket = tx.one("SELECT id, code, status FROM tickets WHERE id = ?", (ticket_id,))
        if ticket is None:
            raise not_found("ticket", ticket_id)
        if ticket["status"] not in REPRINTABLE:
            raise conflict("wrong_state", f"El turno {ticket['code']} ya no está activo; no se reimprime.",
                           current_status=ticket["status"])
        busy = tx.one("SELECT id FROM print_jobs WHERE ticket_id = ? AND status IN ('queued', 'printing')",
                      (ticket_id,))
        if busy is not None:
            # One pending job per ticket: a second tap on "reprint" must not print two slips.
            tx.execute("UPDATE print_jobs SET next_attempt_at = ? WHERE id = ? AND status = 'queued'",
                       (tx.now, busy["id"]))
            return busy["id"]
        cursor = tx.execute("INSERT INTO print_jobs (ticket_id, next_attempt_at, created_at) VALUES (?, ?, ?)",
                            (ticket_id, tx.now, tx.now))
        _mirror(tx, ticket_id, "queued")
        return cursor.lastrowid


def unprinted_today(store, service_day: str) -> list[str]:
    """Ids of today's active tickets whose slip failed to print, oldest first (for a reprint)."""
    rows = store.read("SELECT id FROM tickets WHERE print_status = 'failed' AND service_day = ? "
                      "AND status IN ('waiting', 'called', 'serving') ORDER BY issued_at", (service_day,))
    return [row["id"] for row in rows]


def pending_count(store) -> int:
    return store.read_one("SELECT COUNT(*) FROM print_jobs WHERE status IN ('queued', 'printing')")[0]


def job(store, job_id: int) -> dict:
    row = store.read_one("SELECT * FROM print_jobs WHERE id = ?", (job_id,))
    if row is None:
        raise DomainError("unknown_print_job", f"No existe el trabajo de impresión {job_id}.", 404)
    return dict(row)


def _mirror(tx, ticket_id: str, status: str) -> None:
    tx.execute("UPDATE tickets SET print_status = ? WHERE id = ?", (status, ticket_id))
