"""Wait estimates: the forecast (:mod:`turnero.forecast`) of the queue as it stands, per ticket and
per service, shared by the ticket views, the queue, the kiosk's services list and the status page.

An estimate is ``{"minutes", "low", "high"}``: the median and about the 10th and 90th percentiles
of the wait from now, in whole minutes; None when no open counter serves the service.

Every transition that leaves a ticket waiting shows its estimate (the event carries it), so the
forecast must not slow transitions down. One simulation answers for every ticket of a queue
state, and is kept (keyed by a fingerprint of that state) until the queue changes or a minute
passes. A ticket just issued at the end of its line is answered from the previous state's
"issued now" answer for its service and class, without a new simulation.
"""
from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict

from turnero import forecast, ordering, wait_history
from turnero.forecast import Counter, Scene, Waiting

MAX_AGE_SECONDS = 60.0  # a forecast older than this is made again, even if nothing moved
HISTORY_SECONDS = 600.0  # service times and arrival rates are read again at most this often
KEPT_RESULTS = 8
# A ticket just issued takes the "issued now" of a forecast at most this old (the event pump
# makes one within a quarter of a second of each change, and status pages hear the next one).
ISSUED_NOW_SECONDS = 10.0
BOOKED_AHEAD_SECONDS = 8 * 3600


class Estimator:
    """The forecasts of one box (thread-safe: results are immutable once made)."""

    def __init__(self, settings, clock):
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._results: OrderedDict = OrderedDict()
        self._history = None  # (read_at, hour, newest attention, History)

    # ----------------------------------------------------------------- answers

    def ticket(self, conn, row, just_issued: bool = False) -> dict | None:
        """The estimate of a waiting ticket row (called inside transitions: kept answers first, and
        a quick forecast when there is none). ``just_issued``: the ticket was issued in this
        transaction, at the end of its lane: the newest forecast's "issued now" answers, without
        reading the queue (the kiosk must not get slower as the hall fills)."""
        if not self._served(conn, row["service"]):
            return None  # (without reading the queue: no open counter serves it)
        if just_issued:
            known = self._latest_issued_now(row)
            if known is not None:
                return known
        state = self._state(conn)
        result = self._cached(state.fingerprint, state.now)
        if result is None:
            result = self._as_issued_now(state, row)
            if result is not None:
                return result
            result = self._result(conn, state, forecast.QUICK_BUDGET)
        quantiles = result.tickets.get(row["id"])
        return estimate(quantiles, state.now) if quantiles is not None else None

    def services(self, conn) -> dict:
        """service -> the estimate of a normal ticket issued now (None where no counter serves it)."""
        state = self._state(conn)
        result = self._result(conn, state)
        return {code: (estimate(result.phantoms[(code, forecast.TIER_NORMAL)], state.now)
                       if (code, forecast.TIER_NORMAL) in result.phantoms else None)
                for code in self.settings.services}

    def tickets(self, conn) -> tuple:
        """(ticket id -> estimate, served services) for the whole queue, from one forecast."""
        state = self._state(conn)
        result = self._result(conn, state)
        return {ticket_id: estimate(q, state.now) for ticket_id, q in result.tickets.items()}, state.served

    def scene(self, conn) -> Scene:
        """The queue as it stands, as the forecaster sees it (the what-if changes a copy)."""
        return self._state(conn).scene()

    def history(self, conn) -> wait_history.History:
        return self._history_for(conn, self.clock())

    def warm(self, conn, pause=None) -> None:
        """Make the current state's forecast now (after a commit, off any request's path;
        ``pause`` is called between its runs now and then: see forecast.simulate)."""
        self._result(conn, self._state(conn), pause=pause)

    # ----------------------------------------------------------------- state

    def _state(self, conn) -> "_State":
        now = self.clock()
        waiting = conn.execute("SELECT id, service, priority, appointment_at, queued_at, number FROM tickets"
                               " WHERE status = 'waiting'").fetchall()
        # A paused counter comes back: it calls again after the rest of a usual pause.
        counters = conn.execute("SELECT counter, state, services, preferential_streak, since FROM counter_state"
                                " WHERE state IN ('open', 'paused')").fetchall()
        held = conn.execute("SELECT counter, service, called_at FROM tickets WHERE status IN ('called', 'serving')"
                            " AND counter IS NOT NULL").fetchall()
        booked = conn.execute("SELECT service, starts_at FROM appointments WHERE status = 'booked' AND ticket_id"
                              " IS NULL AND starts_at >= ? AND starts_at < ?",
                              (now - 4 * 3600, now + BOOKED_AHEAD_SECONDS)).fetchall()
        history = self._history_for(conn, now)
        return _State(self, now, [tuple(row) for row in waiting], [tuple(row) for row in counters],
                      [tuple(row) for row in held], sorted(tuple(row) for row in booked), history)

    def _history_for(self, conn, now: float):
        newest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM attentions").fetchone()[0]
        hour = int(now // 3600)
        kept = self._history
        if kept is not None and kept[1] == hour and (kept[2] == newest or now - kept[0] < HISTORY_SECONDS):
            return kept[3]
        history = wait_history.load(conn, self.settings, self.clock, now)
        history.version = (hour, newest, now)
        self._history = (now, hour, newest, history)
        return history

    @staticmethod
    def _served(conn, service: str) -> bool:
        return any(service in json.loads(row[0] or "[]") for row in
                   conn.execute("SELECT services FROM counter_state WHERE state = 'open'"))

    def _cached(self, fingerprint, now: float, full: bool = False):
        with self._lock:
            result = self._results.get(fingerprint)
        if result is not None and 0 <= now - result.now <= MAX_AGE_SECONDS and (result.full or not full):
            return result
        return None

    def _result(self, conn, state, budget: int = forecast.STEP_BUDGET, pause=None) -> forecast.Result:
        full = budget >= forecast.STEP_BUDGET
        result = self._cached(state.fingerprint, state.now, full)
        if result is None:
            result = forecast.simulate(state.scene(), budget=budget, pause=pause)
            with self._lock:
                self._results[state.fingerprint] = result
                self._results.move_to_end(state.fingerprint)
                while len(self._results) > KEPT_RESULTS:
                    self._results.popitem(last=False)
        return result

    def _latest_issued_now(self, row) -> dict | None:
        now = self.clock()
        tier = ordering.tier(row, self.settings.services, now)
        if tier == forecast.TIER_APPOINTMENT:
            return None  # placed by its appointment's time, not at the end of a lane
        with self._lock:
            newest_first = list(reversed(self._results.values()))
        for result in newest_first:
            if result.full and 0 <= now - result.now <= ISSUED_NOW_SECONDS \
                    and (row["service"], tier) in result.phantoms:
                return estimate(result.phantoms[(row["service"], tier)], now)
        return None

    def _as_issued_now(self, state, row) -> dict | None:
        """A ticket at the end of its lane whose state without it has a forecast: its answer is that
        forecast's "issued now" for its service and class (the same simulation, so the kiosk's
        services list and the ticket it prints agree)."""
        tier = ordering.tier(row, self.settings.services, state.now)
        if tier == forecast.TIER_APPOINTMENT:
            return None
        ticket_id = row["id"]
        others = [ticket for ticket in state.waiting if ticket[0] != ticket_id]
        if len(others) == len(state.waiting):
            return None
        for other in others:
            if other[1] == row["service"] and _tier_of(other, self.settings, state.now) == tier \
                    and (other[4], other[5]) > (row["queued_at"], row["number"]):
                return None
        result = self._cached(state.fingerprint_with(others), state.now, full=True)
        if result is None or (row["service"], tier) not in result.phantoms:
            return None
        return estimate(result.phantoms[(row["service"], tier)], state.now)


class _State:
    """The queue as read at one moment, its fingerprint, and the scene the forecaster needs."""

    def __init__(self, estimator, now, waiting, counters, held, booked, history):
        self.estimator = estimator
        self.now = now
        self.waiting = waiting
        self.counters = counters
        self.held = held
        self.booked = booked
        self.history = history
        settings = estimator.settings
        self.served = frozenset(code for row in counters if row[1] == "open" for code in json.loads(row[2] or "[]")
                                if code in settings.services)
        self.fingerprint = self.fingerprint_with(waiting)

    def fingerprint_with(self, waiting) -> int:
        return hash((tuple(sorted(waiting)), tuple(sorted(self.counters)), tuple(sorted(self.held)),
                     tuple(self.booked), self.history.version))

    def scene(self) -> Scene:
        settings = self.estimator.settings
        clock = self.estimator.clock
        now = self.now
        held = {row[0]: row for row in self.held}
        counters = []
        for name, state, services, streak, since in sorted(self.counters):
            codes = tuple(code for code in json.loads(services or "[]") if code in settings.services)
            holding = held.get(name)
            busy = holding[1] if holding is not None and holding[1] in settings.services else None
            paused = max(0.0, now - (since or now)) if state == "paused" else None
            counters.append(Counter(name, codes, busy, max(0.0, now - holding[2]) if busy else 0.0, streak or 0,
                                    paused))
        waiting = [_waiting(row, settings, now) for row in self.waiting if row[1] in settings.services]
        appointments = []
        for code, starts in self.booked:
            service = settings.services.get(code)
            if service is None or starts + service.appointment_late_minutes * 60 < now:
                continue
            opens = max(now, starts - service.appointment_early_minutes * 60)
            appointments.append((code, opens, starts, self.history.show_share))
        return Scene(now=now, day_start=clock.day_bounds(clock.local(now).date())[0], counters=counters,
                     waiting=waiting, pools=self.history.pools, rates=self.history.rates,
                     appointments=appointments, streak_limit=settings.sede["preferential_streak"],
                     pauses=self.history.pauses)


def _tier_of(row, settings, now) -> int:
    return ordering.tier({"appointment_at": row[3], "priority": row[2], "service": row[1]}, settings.services, now)


def _waiting(row, settings, now) -> Waiting:
    """A waiting row (id, service, priority, appointment_at, queued_at, number) as the forecaster's."""
    ticket_id, code, priority, appointment_at, queued_at, number = row
    tier = _tier_of(row, settings, now)
    available = -math.inf
    if tier == forecast.TIER_APPOINTMENT:
        key = (appointment_at, queued_at, number)
    elif appointment_at is not None and now < appointment_at:
        # Its window opens later: from then on it goes first (until then it waits in its class).
        tier = forecast.TIER_APPOINTMENT
        key = (appointment_at, queued_at, number)
        available = appointment_at - settings.services[code].appointment_early_minutes * 60
    else:
        key = (queued_at, number)
    return Waiting(ticket_id, code, tier, key, available, ordering.is_preferential(priority), queued_at)


def estimate(quantiles, now: float) -> dict:
    """Absolute call-time quantiles as whole minutes from ``now``, low <= minutes <= high."""
    low, middle, high = (max(0.0, (value - now) / 60) for value in quantiles)
    minutes = int(middle + 0.5)
    return {"minutes": minutes, "low": min(minutes, int(low + 0.5)), "high": max(minutes, int(high + 0.5))}
