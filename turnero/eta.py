"""Wait estimates: how many minutes the tickets ahead are worth.

One place for the rule, so the queue, the services list and every ticket view agree.
"""
from __future__ import annotations

import json
import math

RECENT_ATTENTIONS = 20


def step_seconds(conn, settings, service: str) -> float | None:
    """Seconds one place in the queue is worth: recent service time over the counters serving it
    (None when no counter is configured for the service)."""
    if not any(service in counter.services for counter in settings.counters.values()):
        return None
    open_count = 0
    for row in conn.execute("SELECT services FROM counter_state WHERE state = 'open'"):
        if service in json.loads(row["services"] or "[]"):
            open_count += 1
    # Newest by end time: walks the (service, ended_at) index backwards, so the cost does not
    # grow with the months of attentions the box keeps.
    recent = conn.execute("SELECT service_seconds FROM attentions WHERE service = ? AND service_seconds "
                          "IS NOT NULL ORDER BY ended_at DESC LIMIT ?", (service, RECENT_ATTENTIONS)).fetchall()
    if recent:
        average = sum(row[0] for row in recent) / len(recent)
    else:
        average = settings.services[service].service_minutes * 60
    return average / max(open_count, 1)


def minutes(ahead: int, step: float | None) -> int | None:
    """Minutes of wait for a ticket with ``ahead`` tickets before it."""
    if step is None:
        return None
    return math.ceil(ahead * step / 60)
