"""The background worker of the box: pushes soon after commits, pulls appointments on a schedule,
backs off on failures and purges personal data past the retention.

It wakes when the store commits events in this process (``store.on_commit``), gathers for a
moment so a burst goes out as one batch, and also polls, so events written by another process
(a CLI command) go out too. A network failure stays here: it never reaches a kiosk or a counter.
It runs on a box without a central side too: it purges there, and starts syncing as soon as a hand
edit of ``sede.toml`` sets ``[sync] central_url`` (its settings come from a follower of the file).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sync.agent import SyncAgent, purge
from sync.backoff import Backoff
from sync.client import Rejected, Retryable
from turnero.sync_state import SyncState, settings_fingerprint

log = logging.getLogger(__name__)


class SyncWorker:
    def __init__(self, engine, settings_source, poll_seconds: float = 2.0, gather_seconds: float = 0.3,
                 purge_every_seconds: float = 3600.0, monotonic=time.monotonic):
        """``settings_source()`` returns the current ``[sync]`` table (re-read while stopped, so a
        changed URL or token lifts a stop without a restart)."""
        self.engine = engine
        self.settings_source = settings_source
        self.sede = engine.settings.sede["code"]
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self.purge_every = purge_every_seconds
        self.monotonic = monotonic
        self.state = SyncState(engine.store)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._agent = None
        self._agent_key = None
        self._backoff = None
        self._retry_at = 0.0
        self._next_pull = 0.0
        self._next_purge = 0.0
        self._pull_requested = False

    # ---------------------------------------------------------------- lifecycle

    def start(self):
        # A restart lifts a stop (SPEC.md): the operator may have fixed the central side meanwhile.
        self.state.lift_stop()
        self.engine.store.on_commit(self._on_commit)
        self._thread = threading.Thread(target=self._run, name="turnero-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5):
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._agent is not None:
            self._agent.close()

    def run_now(self, audit: dict | None = None) -> None:
        """The admin's "sync now": a stop is lifted by an explicit request (recorded with ``audit``),
        like `turnero sync --once`, then a push and a pull are made at once."""
        self.state.lift_stop(audit=audit)
        self.request_round(pull=True)

    def request_round(self, pull: bool = True):
        """Push now and (by default) pull appointments now: the admin's "sync now" button."""
        self._pull_requested = self._pull_requested or pull
        self._retry_at = 0.0
        self._wake.set()

    def _on_commit(self, events):
        self._wake.set()

    # ---------------------------------------------------------------- loop

    def _run(self):
        while not self._stop.is_set():
            try:
                self._round()
            except Exception:  # the worker must outlive any surprise; the next round tries again
                log.exception("sync round failed unexpectedly")
            timeout = self.poll_seconds
            if self._retry_at:
                timeout = max(0.05, min(timeout, self._retry_at - self.monotonic()))
            if self._wake.wait(timeout) and not self._stop.is_set():
                # Let a burst of commits finish so it leaves as one batch (SPEC: "within about a second").
                self._stop.wait(self.gather_seconds)
            self._wake.clear()

    def _round(self):
        settings = self.settings_source()
        # Retention first: it needs no central side, and a box without one purges too.
        self._maybe_purge(settings)
        if not settings.get("central_url"):
            if self._agent is not None:  # sync switched off by hand: let the connection go
                self._agent.close()
                self._agent = self._agent_key = None
            return
        fingerprint = settings_fingerprint(self.sede, settings)
        row = self.state.row()
        if row["state"] == "stopped":
            if row["stopped_settings"] == fingerprint:
                return
            log.info("sync settings changed: resuming after a stop")
            self.state.lift_stop()
            self._retry_at = 0.0
        now = self.monotonic()
        if self._retry_at and now < self._retry_at:
            return
        try:
            agent = self._agent_for(settings, fingerprint)
            agent.push_all(self._stop.is_set)
            if self._pull_requested or now >= self._next_pull or self._retry_at:
                self._pull_requested = False
                agent.pull()
                agent.pull_languages()
                self._next_pull = now + settings["interval_seconds"]
                self.state.record_success(self.engine.clock())
            self._retry_at = 0.0
            self._backoff.reset()
        except Retryable as exc:
            delay = self._backoff.next_delay(exc.retry_after)
            self._retry_at = self.monotonic() + delay
            self.state.record_retry(str(exc), self.engine.clock())
            log.warning("sync will retry in %.1f s: %s", delay, exc)
        except Rejected as exc:
            self.state.record_stop(str(exc), fingerprint, self.engine.clock())
            log.error("sync stopped: %s (fix the settings or the central side, then restart or run "
                      "'turnero sync --once')", exc)

    def _maybe_purge(self, settings: dict):
        """Retention needs no central side (it only touches what was acknowledged), so it runs even
        while the link is down or the agent is stopped."""
        now = self.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + self.purge_every
        try:
            counts = purge(self.engine, settings)
            if any(counts[key] for key in ("events", "tickets", "attentions", "appointments")):
                log.info("retention: personal data removed (%s)", counts)
        except sqlite3.Error:
            log.exception("retention purge failed; will retry")

    def _agent_for(self, settings: dict, fingerprint: str) -> SyncAgent:
        key = (fingerprint, settings["timeout_seconds"], settings["batch_size"], settings["retention_days"],
               settings["backoff_base_seconds"])
        if self._agent is None or key != self._agent_key:
            if self._agent is not None:
                self._agent.close()
            self._agent = None
            self._backoff = Backoff(settings["backoff_base_seconds"])
            try:
                self._agent = SyncAgent(self.engine, settings)
            except Rejected:
                self._agent_key = None
                raise
            self._agent_key = key
        return self._agent

