"""One push-and-pull exchange with the central side, shared by the worker and ``turnero sync --once``.

Plain Python over the engine: events are read from the store in ``seq`` order and sent as the
staff view of ``/api/v1/events``, with the database's epoch and the audit chain head (the central
side keeps it as an anchor, see :mod:`turnero.audit`); the acknowledged point advances only on the
central side's ``acked_seq`` for that epoch. Errors are raised (:mod:`sync.client`); the caller
records them.
"""
from __future__ import annotations

import logging

from sync import languages
from sync.client import CentralClient, Retryable
from turnero import audit
from turnero.retention import purge_personal_data
from turnero.sync_state import SyncState
from turnero.errors import DomainError

log = logging.getLogger(__name__)
MAX_PULL_PAGES = 100


class SyncAgent:
    def __init__(self, engine, sync_settings: dict, client: CentralClient | None = None):
        self.engine = engine
        self.settings = sync_settings
        self.state = SyncState(engine.store)
        self.client = client or CentralClient(sync_settings["central_url"], engine.settings.sede["code"],
                                              sync_settings["token"], sync_settings["timeout_seconds"])

    def close(self):
        self.client.close()

    def push_batch(self) -> int:
        """Send the next batch (at most ``batch_size`` events from ``acked_seq + 1``).

        Returns how many events the central side newly acknowledged (0 when nothing was pending).
        """
        acked = self.state.acked_seq()
        rows = self.engine.events_after(acked, self.settings["batch_size"])
        if not rows:
            return 0
        events = [self.engine.views.event(row) for row in rows]
        store = self.engine.store
        # On disk before the central side keeps them: a web worker's commit is read here a moment
        # before its group's flush, and a seq lost to a power cut would be reused for another event.
        store.flush_wal()
        # The head is read after the events, so it covers at least all of them.
        new_acked = self.client.push(events, epoch=store.epoch(), audit_head=audit.head(store), about=self.about())
        # Never past what this box holds: a central side that "holds more" is not this box's history.
        new_acked = min(new_acked, self.engine.last_seq())
        self.state.record_ack(new_acked, self.engine.clock())
        if new_acked == acked:
            raise Retryable(f"central did not acknowledge events from seq {acked + 1} (acked_seq {new_acked})")
        return max(0, new_acked - acked)

    def about(self) -> dict:
        """What the central needs to read this sede's events: its time zone (its service days) and
        each service's name and target wait (its "within target" figures)."""
        settings = self.engine.settings
        return {"timezone": settings.sede["timezone"],
                "services": {code: {"name": service.name("es"), "target_wait_minutes": service.target_wait_minutes}
                             for code, service in settings.services.items()}}

    def push_all(self, should_stop=lambda: False, progress=None) -> int:
        """Push batches until nothing is pending (or ``should_stop()``); returns events acknowledged.
        ``progress(done, total, "push")``, when given, hears each batch of a backlog (events)."""
        total = 0
        start = self.state.acked_seq()
        if progress is not None and self.engine.last_seq() > start:
            progress(0, self.engine.last_seq() - start, "push")
        while not should_stop():
            before = self.state.acked_seq()
            acked_now = self.push_batch()
            if acked_now == 0 and self.state.acked_seq() == before:
                break
            total += acked_now
            if progress is not None:  # the backlog may grow while it goes out
                progress(self.state.acked_seq() - start, max(self.engine.last_seq() - start, 0), "push")
        return total

    def pull(self) -> dict:
        """Fetch appointments changed since the stored cursor and keep them. Returns counts."""
        cursor = self.state.row()["appointment_cursor"]
        stored = skipped = 0
        for _ in range(MAX_PULL_PAGES):
            appointments, new_cursor = self.client.pull(cursor)
            for appointment in appointments:
                try:
                    self.engine.upsert_appointment(appointment)
                    stored += 1
                except (DomainError, KeyError, TypeError, ValueError) as exc:
                    # One bad record must not block the others; the central team sees it in the log.
                    skipped += 1
                    ident = appointment.get("id") if isinstance(appointment, dict) else None
                    log.warning("appointment %r skipped: %s", ident, getattr(exc, "message", exc))
            self.state.set_cursor(new_cursor, self.engine.clock())
            if not appointments or new_cursor == cursor:
                break
            cursor = new_cursor
        return {"stored": stored, "skipped": skipped}

    def pull_languages(self) -> dict:
        """Apply the language packages approved since the last pull (:func:`sync.languages.pull`):
        called right after :meth:`pull`, on its pace; it never raises a sync error (its failures are
        its own, in /healthz), so it never holds back events or appointments."""
        return languages.pull(self.engine, self.client)

    def purge(self) -> dict:
        return purge(self.engine, self.settings)


def purge(engine, sync_settings: dict) -> dict:
    """Run the retention purge over what the central side has acknowledged (see turnero.retention).
    A box with no central side keeps personal data only for the retention too: every event counts
    as delivered (there is nobody to deliver it to)."""
    state = SyncState(engine.store)
    row = state.row()
    delivered = row["acked_seq"] if sync_settings.get("central_url") else engine.last_seq()
    counts = purge_personal_data(engine.store, engine.clock(), delivered, sync_settings["retention_days"],
                                 row["purged_seq"])
    state.set_purged(counts["purged_seq"], engine.clock())
    return counts
