"""The print worker: sends spooled jobs, settles them, and keeps the printer's health.

It runs on its own thread so that no printer, however slow or silent, holds up the request that
issues a ticket: the kiosk gets its 201 as soon as the ticket and its job are committed.
"""
from __future__ import annotations

import logging
import threading
import time

from printers.backends import PrinterDown, PrinterSetupError, close, describe_error, probe
from printers.layout import build_layout
from printers.render import render
from turnero import print_spool
from turnero.errors import DomainError
from turnero.i18n import translate
from turnero.slip import ticket_slip

log = logging.getLogger(__name__)


class PrintWorker:
    IDLE_SECONDS = 1.0  # also picks up jobs committed by other processes (the CLI, the demo)
    PROBE_SECONDS = 30.0  # status check of an idle printer

    def __init__(self, engine, settings, backend, notify=None, setup_error: str | None = None):
        self.engine = engine
        self.settings = settings
        self.backend = backend
        self.notify = notify or (lambda name, payload: None)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._last_probe = 0.0
        self._setup_error = setup_error
        self._state = {"status": "error", "detail": setup_error} if setup_error else \
            {"status": "ok", "detail": "unchecked"}
        self._last_printed_at = None

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        if (self.backend is None and self._setup_error is None) or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="turnero-print-worker", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self):
        self._wake.set()

    def on_commit(self, events):
        if any(event["type"] == "ticket.issued" for event in events):
            self._wake.set()

    def _run(self):
        try:
            print_spool.release_interrupted(self.engine.store)
        except Exception:
            log.exception("could not release interrupted print jobs")
        while not self._stop.is_set():
            try:
                if not self.run_once() and self.backend is not None and self.backend.supports_status \
                        and time.monotonic() - self._last_probe > self.PROBE_SECONDS:
                    self.check_status()
            except Exception:  # the worker must outlive any printer or database hiccup
                log.exception("print worker failed; going on")
            self._wake.wait(self.IDLE_SECONDS)
            self._wake.clear()

    # ------------------------------------------------------------------ work

    def run_once(self) -> int:
        """Send every due job; returns how many were attempted."""
        attempted = 0
        while (self.backend is not None or self._setup_error) and not self._stop.is_set():
            job = print_spool.claim_due_job(self.engine.store)
            if job is None:
                return attempted
            attempted += 1
            self.print_job(job)
        return attempted

    def print_job(self, job: dict) -> bool:
        try:
            ticket = self.engine.get_ticket(job["ticket_id"])
        except DomainError:  # the ticket is gone (purged): nothing to print, ever
            print_spool.mark_failed(self.engine.store, job["id"], "unknown_ticket", retry=False)
            return False
        try:
            state = self._print_slip(ticket, f"{job['id']:06d}-{ticket['code']}")
        except Exception as error:  # noqa: BLE001 - every failure is recorded and retried
            detail = describe_error(error)
            if not isinstance(error, (PrinterDown, OSError)):
                log.warning("print job %s failed: %s", job["id"], error, exc_info=True)
            retry = print_spool.mark_failed(self.engine.store, job["id"], detail,
                                            retry=not isinstance(error, PrinterSetupError))
            self._set_state("error", detail)
            self.notify("print.status", {"ticket_id": ticket["id"], "code": ticket["code"],
                                         "print": {"status": "failed"}, "detail": detail, "retry": retry})
            return False
        print_spool.mark_printed(self.engine.store, job["id"])
        self._last_printed_at = self.engine.clock()
        self._set_state(*state)
        self.notify("print.status", {"ticket_id": ticket["id"], "code": ticket["code"],
                                     "print": {"status": "printed"}})
        return True

    def print_test(self) -> str:
        """Print a sample slip now (admin page), outside the spool. Errors: printer_failed (503)."""
        if self.backend is None:
            if self._setup_error is None:
                raise DomainError("printer_disabled", translate("admin.test_printer_disabled"), 409)
            raise DomainError("printer_failed", translate("admin.test_printer_failed",
                                                          detail=self._setup_error.removeprefix("setup: ")), 503)
        services = list(self.settings.services.values())
        prefix = services[0].prefix if services else "A"
        sample = {"code": f"{prefix}-000", "service_label": translate("admin.test_printer_service"),
                  "language": "es", "priority": None, "position": 1, "eta_minutes": 0,
                  "eta_range_minutes": {"low": 0, "high": 0},
                  "issued_at": self.engine.clock(), "status_url": self.engine.views.status_url("prueba")}
        try:
            state = self._print_slip(sample, "test")
        except Exception as error:  # noqa: BLE001 - shown to the admin as it is
            detail = describe_error(error)
            self._set_state("error", detail)
            raise DomainError("printer_failed", translate("admin.test_printer_failed", detail=detail), 503) from None
        self._set_state(*state)
        return translate("admin.test_printer_done")

    def _print_slip(self, ticket: dict, name: str) -> tuple[str, str]:
        """Draw one ticket's slip on the printer; returns the printer's (status, detail) as read
        before printing. Raises whatever the layout, the backend or the printer raise."""
        blocks = build_layout(ticket_slip(self.settings, ticket, self.engine.clock),
                              self.settings.printer["width_mm"], self.settings.printer["cut"],
                              self.settings.printer["logo"])
        if self.backend is None:
            raise PrinterSetupError(self._setup_error.removeprefix("setup: "))
        # A slip only for a ticket on disk (a web worker's commit is seen here a moment before its
        # group's flush): a power cut must not leave a printed number that the box hands out again.
        self.engine.store.flush_wal()
        printer = self.backend.open()
        try:
            state = probe(printer) if self.backend.supports_status else ("ok", "online")
            render(blocks, printer, self.settings.printer["codepage"])
            self.backend.finish(printer, name, blocks)
        except BaseException:
            close(printer)
            raise
        return state

    def check_status(self) -> dict:
        """Ask the printer how it is (network, USB, serial); other types keep the last job's result."""
        self._last_probe = time.monotonic()
        if self.backend is None or not self.backend.supports_status:
            return self.health()
        printer = None
        try:
            printer = self.backend.open()
            self._set_state(*probe(printer))
        except Exception as error:  # noqa: BLE001
            self._set_state("error", describe_error(error))
        finally:
            if printer is not None:
                close(printer)
        return self.health()

    # ------------------------------------------------------------------ health

    def _set_state(self, status: str, detail: str):
        with self._lock:
            changed = self._state != {"status": status, "detail": detail}
            self._state = {"status": status, "detail": detail}
        if changed:
            self.notify("printer.status", self.health())

    def health(self) -> dict:
        if self.backend is None and self._state.get("detail") in (None, "unchecked"):
            return {"status": "disabled", "detail": None, "type": "none"}
        with self._lock:
            state = dict(self._state)
        state["type"] = self.settings.printer["type"]
        try:
            state["backlog"] = print_spool.pending_count(self.engine.store)
        except Exception:  # noqa: BLE001 - health must answer even when the database does not
            state["backlog"] = None
        state["last_printed_at"] = self.engine.clock.rfc3339(self._last_printed_at)
        return state
