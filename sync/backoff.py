"""How long to wait before the next try: exponential with jitter, capped, honoring Retry-After."""
from __future__ import annotations

import random
from datetime import timezone
from email.utils import parsedate_to_datetime

CAP_SECONDS = 300.0  # SPEC.md: backoff never waits more than 5 minutes


class Backoff:
    """Counts consecutive failures; ``next_delay`` grows base * 2**n with "equal jitter".

    Half the delay is fixed so a retry never comes right back, the other half is random so
    twenty boxes coming back after an outage do not knock on the central door in step.
    """

    def __init__(self, base_seconds: float = 2.0, cap_seconds: float = CAP_SECONDS, rng=random.random):
        self.base = base_seconds
        self.cap = cap_seconds
        self.failures = 0
        self._rng = rng

    def reset(self):
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        exponential = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        delay = exponential / 2 + self._rng() * exponential / 2
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.cap)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - now)

