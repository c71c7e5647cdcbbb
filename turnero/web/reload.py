"""A fresh web worker with new settings, asked of the Gunicorn master (``turnero run``).

Kept apart from turnero.web.server so that what only asks (the admin pages) does not import
Gunicorn and gevent: the device process builds the same app and has no use for them."""
from __future__ import annotations

import os
import signal

master_pid: int | None = None  # set in a web worker by turnero.web.server: the master that can reload it


def can_reload() -> bool:
    """True inside ``turnero run``: the master can start a fresh worker with new settings."""
    return master_pid is not None


def request_reload() -> None:
    """Ask the master for a fresh worker (Gunicorn's SIGHUP): it reads sede.toml again, and this
    worker finishes its requests and stops. Clients reconnect and catch up by ``seq``."""
    if master_pid is None:
        raise RuntimeError("not running under turnero run")
    os.kill(master_pid, signal.SIGHUP)
