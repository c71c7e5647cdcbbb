"""The counter part of the box: the staff console, the supervisor's live view and the reports.

Wired by turnero.web.app.create_app via init_app. The pages call the JSON API with the session
cookie (plus the CSRF header) and follow the event stream over Socket.IO.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from turnero.periodic import Periodic

log = logging.getLogger(__name__)


class StatsWarmer(Periodic):
    """Works out the last month's per-day report figures once, shortly after start, so the
    first report a supervisor opens does not pay for reading the whole month."""

    name = "turnero-stats-warmer"
    DELAY_SECONDS = 5

    def __init__(self, engine):
        super().__init__(self.DELAY_SECONDS)
        self.engine = engine

    def tick(self):
        from turnero.stats import compute_stats

        today = self.engine.clock.local().date()
        try:
            compute_stats(self.engine, (today - timedelta(days=31)).isoformat(), today.isoformat())
        except Exception:  # a cold cache only costs time; never take the box down for it
            log.exception("could not prepare the report figures")
        return False  # once


def init_app(app):
    """Register the console, supervisor and report pages; warm the report cache at start."""
    from counter.views import blueprint

    app.register_blueprint(blueprint)
    box = app.extensions["turnero"]
    box.workers.append(StatsWarmer(box.engine))
