"""Printer backends: python-escpos transports chosen by ``[printer] type`` in sede.toml.

Each backend opens a fresh python-escpos printer for one job and closes it after. Network, USB
and serial printers answer status queries (DLE EOT); CUPS and file targets cannot; the emulated
printer keeps each slip as raw bytes plus a PNG preview in ``<data dir>/spool/``.
"""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from escpos.capabilities import CAPABILITIES, get_profile
from escpos.exceptions import Error as EscposError

from printers.render import codepage_table

STATUS_TYPES = ("network", "usb", "serial")


class PrinterSetupError(Exception):
    """The [printer] settings cannot work on this box (missing library, unknown profile)."""


class PrinterDown(Exception):
    """The printer answered that it cannot print now (offline, no paper)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Backend:
    """Opens python-escpos printers for one ``[printer] type``."""

    def __init__(self, settings: dict, data_dir: Path):
        self.settings = settings
        self.type = settings["type"]
        self.data_dir = Path(data_dir)
        self.supports_status = self.type in STATUS_TYPES
        self.previews = None  # the emulated printer's PreviewMaker, made with its first slip
        if settings["profile"] not in CAPABILITIES["profiles"]:
            raise PrinterSetupError(f"printer.profile: unknown python-escpos profile {settings['profile']!r}")
        try:  # refused at start, not at the first ticket
            codepage_table(get_profile(settings["profile"]), settings["codepage"])
        except ValueError as error:
            raise PrinterSetupError(str(error)) from None
        self._check_dependencies()

    def open(self):
        """A connected printer for one job (network: the TCP connection is made here)."""
        s, profile = self.settings, self.settings["profile"]
        if self.type == "network":
            from escpos.printer import Network

            printer = Network(s["host"], s["port"], timeout=s["timeout_seconds"], profile=profile)
            printer.open()
            return printer
        if self.type == "usb":
            from escpos.printer import Usb

            printer = Usb(s["usb_vendor_id"], s["usb_product_id"], timeout=int(s["timeout_seconds"] * 1000),
                          profile=profile)
            printer.open()
            return printer
        if self.type == "serial":
            from escpos.printer import Serial

            printer = Serial(s["serial_device"], s["serial_baudrate"], timeout=s["timeout_seconds"],
                             profile=profile)
            printer.open()
            return printer
        if self.type == "cups":
            from escpos.printer import CupsPrinter

            printer = CupsPrinter(s["cups_printer"], profile=profile)
            printer.open()
            return printer
        if self.type == "file":
            from escpos.printer import File

            printer = File(s["file_path"], profile=profile)
            printer.open()
            return printer
        if self.type == "emulated":
            from escpos.printer import Dummy

            return Dummy(profile=profile)
        raise PrinterSetupError(f"printer.type {self.type!r} does not print")

    def finish(self, printer, job_name: str, preview_blocks=None) -> None:
        """End the job: close the connection; the emulated printer writes its bytes, and leaves the
        slip's layout for the preview maker (a low-priority thread) to draw into a PNG."""
        if self.type == "emulated":
            spool = self.data_dir / "spool"
            spool.mkdir(parents=True, exist_ok=True)
            (spool / f"{job_name}.bin").write_bytes(printer.output)
            if preview_blocks is not None:
                from printers.preview import LAYOUT_SUFFIX, PreviewMaker

                (spool / f"{job_name}{LAYOUT_SUFFIX}").write_text(json.dumps(preview_blocks, ensure_ascii=False),
                                                                  encoding="utf-8")
                if self.previews is None:
                    self.previews = PreviewMaker(spool, self.settings["width_mm"], self.settings["codepage"])
                self.previews.poke()
        close(printer)

    def _check_dependencies(self):
        if self.type == "cups":
            from escpos.printer import CupsPrinter

            if not CupsPrinter.is_usable():
                raise PrinterSetupError("printer.type 'cups' needs pycups (pip install pycups) and libcups")
        if self.type == "usb":
            from escpos.printer import Usb

            if not Usb.is_usable():
                raise PrinterSetupError("printer.type 'usb' needs pyusb and libusb")
            if not (self.settings["usb_vendor_id"] and self.settings["usb_product_id"]):
                raise PrinterSetupError("printer.type 'usb' needs usb_vendor_id and usb_product_id")
        if self.type == "network" and not self.settings["host"]:
            raise PrinterSetupError("printer.type 'network' needs printer.host")
        if self.type == "file" and not self.settings["file_path"]:
            raise PrinterSetupError("printer.type 'file' needs printer.file_path")


def probe(printer) -> tuple[str, str]:
    """(status, detail) read from the printer: ok, degraded (paper near end) or error.

    Raises PrinterDown for a printer that cannot print now, OSError when it does not answer.
    """
    if not printer.is_online():
        raise PrinterDown("offline")
    paper = printer.paper_status()
    if paper == 0:
        raise PrinterDown("paper_out")
    if paper == 1:
        return "degraded", "paper_near_end"
    return "ok", "online"


def describe_error(error: BaseException) -> str:
    """A short, stable word for what went wrong (shown to staff and in /healthz)."""
    if isinstance(error, PrinterDown):
        return error.detail
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "no_answer"
    if isinstance(error, PrinterSetupError):
        return f"setup: {error}"
    if isinstance(error, EscposError):
        text = re.sub(r"\s+", " ", str(error)).strip()
        return "unreachable" if "Could not open" in text or "not found" in text.lower() else f"escpos: {text}"
    if isinstance(error, OSError):
        return "unreachable"
    return f"error: {type(error).__name__}"


def close(printer) -> None:
    try:
        printer.close()
    except (OSError, EscposError):
        pass
