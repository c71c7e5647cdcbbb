"""The box's queue engine alone, in the floor's Flask shell: what an issue and a call-next cost
before any of the box's web layer (credentials, rate limits, connection caps, the event pump and
the device process, group commit).

The same Gunicorn gevent worker and the same durability as the floor (``synchronous=FULL``, one
write transaction per request), and the queue's forecast made after commits as the box's
event pump makes it. bench_capacity prints it between the floor and the box, so the
distance between the floor and the box splits into the engine's share and the web layer's:

    ENGINE_DATA_DIR=/tmp/demo python -m gunicorn -k gevent -w 1 -b 127.0.0.1:8001 bench.engine_floor_app:app
"""
from __future__ import annotations

import os
import time

from flask import Flask, jsonify

from config import load_settings
from turnero import audit, i18n
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.store import Store
from turnero.translations import Translations

app = Flask(__name__)
_engine: Engine | None = None
_warmed_at = 0.0
STAFF = "defensor2"
WARM_EVERY = 0.25  # as the box's event pump: the queue's forecast is made after commits, off the path


def engine() -> Engine:
    # Made on the first request, so in the worker after Gunicorn forked it.
    global _engine
    if _engine is None:
        data_dir = os.environ["ENGINE_DATA_DIR"]
        settings = load_settings(data_dir)
        clock = SedeClock(settings.timezone, time.time)
        store = Store.in_data_dir(data_dir, clock)
        i18n.init(Translations(store))
        _engine = Engine(store, settings, clock)
    return _engine


def warm_soon() -> None:
    """The box's event pump makes the queue's forecast after commits, so an issue finds its
    estimate made; without it, each issue would forecast the queue itself."""
    global _warmed_at
    if time.monotonic() - _warmed_at >= WARM_EVERY:
        import gevent

        _warmed_at = time.monotonic()
        gevent.spawn(engine().warm_estimates)


def action(path: str, target: str | None = None) -> dict:
    """The audit entry the box's guard would hand to the write (the trail is part of the work)."""
    return audit.describe(STAFF, "staff", f"POST {path}", target=target, client="127.0.0.1 bench")


@app.post("/tickets")
def issue():
    ticket, _created = engine().issue("ORI", channel="staff", audit=action("/api/v1/tickets"))
    warm_soon()
    return jsonify(ticket), 201


@app.post("/counters/<counter>/call-next")
def call_next(counter):
    ticket = engine().call_next(counter, STAFF, audit=action(f"/api/v1/counters/{counter}/call-next", counter))
    warm_soon()
    return (jsonify({"ticket": ticket}), 200) if ticket else ("", 204)


@app.post("/tickets/<ticket_id>/no-show")
def no_show(ticket_id):
    ticket = engine().no_show(ticket_id, STAFF, audit=action(f"/api/v1/tickets/{ticket_id}/no-show", ticket_id))
    warm_soon()
    return jsonify({"ticket": ticket})
