"""Time at the sede: Unix seconds inside, RFC 3339 with the sede's offset outside."""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


class SedeClock:
    """Wall clock in the sede's zone. Tests pass ``now`` to move time."""

    def __init__(self, tz: ZoneInfo, now=time.time):
        self.tz = tz
        self.now = now

    def __call__(self) -> float:
        return self.now()

    def local(self, timestamp: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.now() if timestamp is None else timestamp, self.tz)

    def service_day(self, timestamp: float | None = None) -> str:
        return self.local(timestamp).date().isoformat()

    def rfc3339(self, timestamp: float | None) -> str | None:
        if timestamp is None:
            return None
        return self.local(timestamp).isoformat(timespec="milliseconds")

    def day_bounds(self, day: date) -> tuple[float, float]:
        start = datetime.combine(day, datetime.min.time(), self.tz)
        return start.timestamp(), (start + timedelta(days=1)).timestamp()

    def parse(self, text: str) -> float:
        """An RFC 3339 time or a local date (YYYY-MM-DD, its midnight) to Unix seconds."""
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        return moment.timestamp()
