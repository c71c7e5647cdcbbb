"""A background job that runs every so often on a daemon thread (a greenlet under gevent)."""
from __future__ import annotations

import threading


class Periodic:
    """Calls ``tick()`` every ``interval`` seconds, the first time after one interval, until
    ``stop()`` (or until ``tick`` returns False: a job done once)."""

    name = "turnero-periodic"

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()

    def start(self):
        threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def stop(self):
        self._stop.set()

    def tick(self) -> bool | None:
        raise NotImplementedError

    def _run(self):
        while not self._stop.wait(self.interval):
            if self.tick() is False:
                return
