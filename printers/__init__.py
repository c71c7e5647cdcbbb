"""The printers part: ticket slips on ESC/POS printers through python-escpos, with a spool.

Wired by turnero.web.app.create_app via :func:`init_app`: it builds the backend named by
``[printer] type``, the print worker (started with the other workers), the ``printer`` entry of
/healthz, and the staff endpoints (reprint, printer status). Print outcomes and the printer's
health are pushed on the staff-only Socket.IO namespace ``/printer`` (not events: no ``seq``).
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def init_app(app):
    # Imported here: a web worker of `turnero run` prints nothing (the device process does).
    from printers.backends import Backend, PrinterSetupError
    from printers.routes import api
    from printers.worker import PrintWorker
    from turnero.web.realtime import PRINTER_NAMESPACE

    box = app.extensions["turnero"]
    settings = box.settings
    if box.devices is not None:  # a web worker of `turnero run`: the device process prints
        worker = box.devices.part("printer")
    else:
        backend, setup_error = None, None
        if settings.printer["type"] != "none":
            try:
                backend = Backend(settings.printer, box.data_dir)
            except PrinterSetupError as error:
                setup_error = f"setup: {error}"
                log.error("printer not usable: %s", error)
        # Print outcomes are not events (no seq): staff hear them on their own namespace.
        worker = PrintWorker(box.engine, settings, backend, setup_error=setup_error,
                             notify=lambda name, payload: box.push(name, payload, PRINTER_NAMESPACE))
        box.store.on_commit(worker.on_commit)
        box.workers.append(worker)
        box.parts["printer"] = worker
    app.extensions["printers"] = worker
    box.health["printer"] = worker.health
    app.extensions.setdefault("turnero.device_tests", {})["printer"] = worker.print_test
    app.register_blueprint(api)
    app.extensions["csrf"].exempt(api)
