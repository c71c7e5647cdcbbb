"""Backoff: exponential with jitter, never past 5 minutes, never before Retry-After."""
from email.utils import formatdate

from sync.backoff import CAP_SECONDS, Backoff, parse_retry_after


def test_delays_grow_with_jitter_and_are_capped():
    low, high = Backoff(2, rng=lambda: 0.0), Backoff(2, rng=lambda: 0.999)
    lows = [low.next_delay() for _ in range(12)]
    highs = [high.next_delay() for _ in range(12)]
    assert lows[:4] == [1.0, 2.0, 4.0, 8.0]
    assert all(a < b for a, b in zip(lows, highs[:8]))
    assert max(highs) <= CAP_SECONDS == 300 and highs[-1] > 290
    low.reset()
    assert low.next_delay() == 1.0


def test_retry_after_is_a_floor_but_not_past_the_cap():
    backoff = Backoff(0.05, rng=lambda: 0.5)
    assert backoff.next_delay(retry_after=7) == 7
    assert backoff.next_delay(retry_after=3600) == CAP_SECONDS


def test_retry_after_forms():
    assert parse_retry_after("120", 0) == 120
    assert parse_retry_after(None, 0) is None and parse_retry_after("soon", 0) is None
    now = 1_800_000_000
    assert abs(parse_retry_after(formatdate(now + 30, usegmt=True), now) - 30) < 1
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0
