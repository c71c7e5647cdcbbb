"""The wait forecaster: Monte Carlo runs of the sede's counters working through the queue.

Plain Python, no database: :mod:`turnero.eta` (the kiosk's and the tickets' estimates) and
:mod:`turnero.whatif` (the supervisor's "¿y si…?") build a :class:`Scene` from the store and
read the quantiles of each ticket's call time from :func:`simulate`.

One run: each open counter becomes free when the attention it holds ends (its remaining time
drawn given the time already spent), then takes the next ticket by the call order of
:mod:`turnero.ordering` among the services it serves (appointments in their window, urgent,
preferential, normal; oldest first within a tier, across its services; the streak rule), and
holds it for an occupation time (call to end of attention, plus the usual hand-over gap) drawn
from that service's history. Tickets that will overtake arrive meanwhile: urgent and
preferential walk-ins at the rates of the history, booked appointments that show up.

"Phantoms" answer "a ticket of this service and class issued now": each sits at the end of its
lane, is recorded when a counter would call it and does not occupy the counter, so the phantoms
of several services never delay each other.

Runs use one seeded generator, so the same scene always gives the same forecast.
"""
from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field

TIER_APPOINTMENT, TIER_URGENT, TIER_PREFERENTIAL, TIER_NORMAL = 0, 1, 2, 3
TIERS = 4
SEED = 14
# Work per forecast: runs x calls simulated. Shallow queues get up to MAX_RUNS runs; a very long
# queue gets fewer (never below MIN_RUNS), so one forecast stays a few milliseconds. A forecast
# made inside a transition (nothing kept to read it from) gets QUICK_BUDGET: the event pump makes
# the full one right after the commit.
STEP_BUDGET = 3000
QUICK_BUDGET = 800
PAUSE_EVERY_RUNS = 8
MAX_RUNS = 200
MIN_RUNS = 16
HORIZON_SECONDS = 10 * 3600  # a ticket not called by then is reported at this bound
QUANTILES = (0.1, 0.5, 0.9)


@dataclass
class Counter:
    id: str
    services: tuple
    busy_service: str | None = None  # the service of the ticket it holds, if any
    busy_elapsed: float = 0.0  # seconds since that ticket was called
    streak: int = 0  # preferential calls in a row (the streak rule)
    paused_for: float | None = None  # seconds into a pause (None: open); it calls again when the pause ends


@dataclass
class Waiting:
    """A ticket in the queue. ``key`` orders it within its lane (the call order's sort key);
    ``available`` is when it may be called (an appointment: when its window opens)."""
    id: str
    service: str
    tier: int
    key: tuple
    available: float = -math.inf
    preferential: bool = False
    arrived: float | None = None  # issue time (what-if waits are counted from it)


@dataclass
class Scene:
    """Everything a forecast needs, as plain values (seconds, Unix times)."""
    now: float
    day_start: float  # local midnight of ``now``: hours of the day index the per-hour tables
    counters: list  # open and paused counters (closed ones do not call)
    waiting: list  # Waiting tickets, any order
    pools: dict  # service -> 24 lists (one per local hour) of occupation samples in seconds
    rates: dict  # (service, tier) -> 24 arrivals per hour (urgent, preferential; normal for what-if)
    appointments: list = field(default_factory=list)  # (service, available_at, key, show_probability)
    streak_limit: int = 0
    phantoms: tuple = (TIER_URGENT, TIER_PREFERENTIAL, TIER_NORMAL)  # classes to answer "issued now" for
    track_arrivals_until: float | None = None  # what-if: also record arrivals (of every class) until then
    horizon: float = HORIZON_SECONDS
    pauses: list = field(default_factory=list)  # sorted seconds: how long pauses last


@dataclass
class Result:
    """Quantiles (``QUANTILES``) of absolute call times, per ticket id and per (service, tier) phantom;
    what-if runs also collect waits per service (seconds, every run pooled)."""
    now: float
    runs: int
    tickets: dict
    phantoms: dict
    served: frozenset  # services some open counter serves
    waits: dict = field(default_factory=dict)
    arrivals: dict = field(default_factory=dict)  # service -> arrivals recorded per run, on average
    full: bool = True  # made with the full budget (else a quick one, made inside a transition)


def served_services(counters) -> frozenset:
    """Services some open counter serves (a service only a paused counter serves has no estimate:
    nobody can say when that counter comes back)."""
    return frozenset(code for counter in counters if counter.paused_for is None for code in counter.services)


def runs_for(calls: int, budget: int = STEP_BUDGET) -> int:
    return max(MIN_RUNS, min(MAX_RUNS, budget // max(1, calls)))


def quantiles(values: list) -> tuple:
    """QUANTILES of the runs' values, read at the plotting positions share x (n + 1): the range
    between the 10th and 90th then holds a new draw 80 % of the time whatever the number of runs
    (reading them at share x (n - 1) makes it narrower the fewer runs there are)."""
    values.sort()
    last = len(values) - 1
    out = []
    for share in QUANTILES:
        position = min(last, max(0.0, share * (last + 2) - 1))
        low = int(position)
        high = min(low + 1, last)
        out.append(values[low] + (values[high] - values[low]) * (position - low))
    return tuple(out)


def simulate(scene: Scene, runs: int | None = None, budget: int = STEP_BUDGET, pause=None) -> Result:
    """``pause``: called between runs now and then, by a caller off any request's path that must
    let others have the processor (a cooperative server)."""
    served = served_services(scene.counters)
    services = sorted(served | {ticket.service for ticket in scene.waiting})
    lane_of = {(code, tier): index for index, (code, tier) in
               enumerate((code, tier) for code in services for tier in range(TIERS))}
    # Static lanes: the queue as it stands, in call order within each (service, tier).
    static = [[] for _ in lane_of]
    tracked = 0
    for ticket in scene.waiting:
        lane = lane_of[(ticket.service, ticket.tier)]
        counted = ticket.service in served
        tracked += counted
        static[lane].append((ticket.key, ticket.available, ticket.id if counted else None, ticket.preferential,
                             ticket.service, ticket.arrived))
    for lane in static:
        lane.sort(key=lambda entry: entry[0])
    phantoms = [(code, tier) for code in sorted(served) for tier in scene.phantoms]
    for code, tier in phantoms:
        # Issued now: after everyone of its lane (tier 0 has no phantom: its place is its slot).
        static[lane_of[(code, tier)]].append(((scene.now, math.inf), scene.now, ("phantom", code, tier),
                                              tier == TIER_PREFERENTIAL, code, None))
    what_if = scene.track_arrivals_until is not None
    plan = _arrival_plan(scene, served, what_if)
    # A run costs its calls and setting up each counter and each lane that gets arrivals.
    cost = tracked + len(phantoms) + _expected_arrivals(scene, served) + 2 * len(scene.counters) + len(plan)
    runs = runs or runs_for(cost, budget)
    rng = random.Random(SEED)
    times = {entry[2]: [] for lane in static for entry in lane if entry[2] is not None}
    waits = {code: [] for code in services} if what_if else {}
    arrivals = {code: 0 for code in services}
    # Each counter looks only at lanes someone may be in: the queue's, and those that get arrivals.
    used = {index for index, lane in enumerate(static) if lane} | {lane_of[key] for key, _, _ in plan}
    used |= {lane_of[(code, TIER_APPOINTMENT)] for code, *_ in scene.appointments if (code, TIER_APPOINTMENT) in lane_of}
    counters = [(counter, [lane_of[(code, tier)] for tier in range(TIERS) for code in counter.services
                           if (code, tier) in lane_of and lane_of[(code, tier)] in used])
                for counter in scene.counters]
    for run in range(runs):
        if pause is not None and run % PAUSE_EVERY_RUNS == PAUSE_EVERY_RUNS - 1:
            pause()
        lanes, pending = _lanes_for_run(scene, static, lane_of, served, rng, what_if, arrivals, plan)
        _run(scene, lanes, counters, rng, times, waits, tracked + len(phantoms) + pending)
    tickets, ghost = {}, {}
    for key, values in times.items():
        if isinstance(key, tuple):
            ghost[key[1:]] = quantiles(values)
        else:
            tickets[key] = quantiles(values)
    return Result(now=scene.now, runs=runs, tickets=tickets, phantoms=ghost, served=served, waits=waits,
                  arrivals={code: count / runs for code, count in arrivals.items()}, full=budget >= STEP_BUDGET)


def _expected_arrivals(scene: Scene, served) -> int:
    if scene.track_arrivals_until is None:
        return 0
    hours = (scene.track_arrivals_until - scene.now) / 3600
    hour = int((scene.now - scene.day_start) // 3600) % 24
    return int(sum(rates[hour] for (code, _tier), rates in scene.rates.items() if code in served) * hours) + 1


def _arrival_plan(scene: Scene, served, what_if: bool) -> list:
    """Per lane that gets arrivals: (lane key, tier, [(segment start, length, cumulative Poisson
    probabilities of 0, 1, 2... arrivals)]), one segment per local hour. Made once per forecast,
    so each run draws one number per hour and lane (most hours see no overtaker at all)."""
    plan = []
    end = scene.now + scene.horizon
    for (code, tier), rates in sorted(scene.rates.items()):
        if code not in served or not any(rates) or (tier == TIER_NORMAL and not what_if):
            continue  # (a walk-in issued later never passes anyone waiting now)
        until = scene.track_arrivals_until if tier == TIER_NORMAL else end
        segments = []
        t = scene.now
        while t < until:
            hour = int((t - scene.day_start) // 3600)
            stop = min(until, scene.day_start + (hour + 1) * 3600)
            mean = rates[hour % 24] * (stop - t) / 3600
            if mean > 0:
                segments.append((t, stop - t, _poisson_table(mean)))
            t = stop
        if segments:
            plan.append(((code, tier), tier, segments))
    return plan


def _poisson_table(mean: float) -> list:
    term = math.exp(-mean)
    total, table, k = term, [term], 0
    while total < 1 - 1e-9 and k < 200:
        k += 1
        term *= mean / k
        total += term
        table.append(total)
    return table


def _lanes_for_run(scene, static, lane_of, served, rng, what_if, arrivals, plan):
    """This run's lanes: the static queue plus the arrivals drawn for it (in time order), and how
    many of those arrivals are tracked (what-if)."""
    lanes = list(static)
    random_ = rng.random
    tracked_arrivals = 0
    for (code, tier), _tier, segments in plan:
        times = []
        for start, length, table in segments:
            count = bisect_right(table, random_())
            if count:
                times += sorted(start + length * random_() for _ in range(count))
        if not times:
            continue
        extra = []
        for t in times:
            tracked = what_if and t < scene.track_arrivals_until
            arrivals[code] += tracked
            tracked_arrivals += tracked
            extra.append(((t,), t, ("arrival",) if tracked else None, tier == TIER_PREFERENTIAL, code, t))
        index = lane_of[(code, tier)]
        lanes[index] = lanes[index] + extra
    booked = []
    for code, available, key, show in scene.appointments:
        if code in served and rng.random() < show:
            tracked = what_if and available < (scene.track_arrivals_until or 0)
            arrivals[code] += tracked
            tracked_arrivals += tracked
            booked.append((code, (key,), available, ("arrival",) if tracked else None))
    for code, key, available, ident in booked:
        index = lane_of[(code, TIER_APPOINTMENT)]
        lanes[index] = sorted(lanes[index] + [(key, available, ident, False, code, available)],
                              key=lambda entry: entry[0])
    return lanes, tracked_arrivals


def _run(scene, lanes, counters, rng, times, waits, pending):
    """One run: counters call tickets until every tracked ticket (``pending`` of them) is called
    or the horizon passes. The hot loop of the forecaster: kept flat on purpose."""
    now = scene.now
    end = now + scene.horizon
    day_start = scene.day_start
    pools = scene.pools
    limit = scene.streak_limit
    random_ = rng.random
    heappop, heappush = heapq.heappop, heapq.heappush
    pointers = [0] * len(lanes)
    sizes = [len(lane) for lane in lanes]
    # Tier-0 lanes are few and small, and their tickets become callable out of slot order: they are
    # scanned; the other lanes are FIFO and only their heads are looked at.
    taken = [set() if index % TIERS == TIER_APPOINTMENT else None for index in range(len(lanes))]
    heap = []
    streaks = []
    owns = []
    for number, (counter, own) in enumerate(counters):
        start = now
        if counter.paused_for is not None:
            start = now + _rest(scene.pauses, counter.paused_for, random_)
        elif counter.busy_service is not None:
            start = now + _remaining(pools, counter.busy_service, counter.busy_elapsed, now, day_start, random_)
        heap.append((start, number))
        streaks.append(counter.streak)
        owns.append(own)
    heapq.heapify(heap)
    while heap and pending > 0:
        t, number = heappop(heap)
        if t > end:
            break
        own = owns[number]
        chosen = -1
        entry = None
        best_tier = TIERS
        for index in own:
            tier = index & 3  # index % TIERS
            if tier > best_tier:
                break
            if tier == TIER_APPOINTMENT:
                used = taken[index]
                for position, candidate in enumerate(lanes[index]):
                    if position not in used and candidate[1] <= t:  # sorted by slot: the first is its best
                        if entry is None or candidate[0] < entry[0]:
                            chosen, entry, best_tier, at = index, candidate, tier, position
                        break
                continue
            position = pointers[index]
            if position < sizes[index]:
                candidate = lanes[index][position]
                if candidate[1] <= t and (entry is None or candidate[0] < entry[0]):
                    chosen, entry, best_tier, at = index, candidate, tier, position
        if best_tier == TIER_PREFERENTIAL and limit and streaks[number] >= limit:
            for index in own:
                if index & 3 != TIER_NORMAL:
                    continue
                position = pointers[index]
                if position < sizes[index]:
                    candidate = lanes[index][position]
                    if candidate[1] <= t and (best_tier != TIER_NORMAL or candidate[0] < entry[0]):
                        chosen, entry, best_tier, at = index, candidate, TIER_NORMAL, position
        if entry is None:
            following = _next_available(lanes, pointers, sizes, taken, own, t)
            if following is not None:
                heappush(heap, (following, number))
            continue
        if chosen & 3 == TIER_APPOINTMENT:
            taken[chosen].add(at)
        else:
            pointers[chosen] = at + 1
        ident = entry[2]
        if ident is not None:
            pending -= 1
            if ident[0] == "phantom":
                times[ident].append(t)
                heappush(heap, (t, number))  # a phantom does not occupy the counter
                continue
            if ident[0] != "arrival":
                times[ident].append(t)
            if entry[5] is not None and waits:
                waits[entry[4]].append(t - entry[5])
        streaks[number] = streaks[number] + 1 if entry[3] else 0
        pool = pools[entry[4]][int((t - day_start) // 3600) % 24]
        heappush(heap, (t + pool[int(random_() * len(pool))], number))
    _censor(lanes, pointers, taken, times, waits, end)


def _censor(lanes, pointers, taken, times, waits, end):
    """Tickets not called within the horizon are reported at it (an estimate can only say "later")."""
    for index, lane in enumerate(lanes):
        used = taken[index]
        start = 0 if used is not None else pointers[index]
        for position in range(start, len(lane)):
            if used is not None and position in used:
                continue
            entry = lane[position]
            ident = entry[2]
            if ident is None:
                continue
            if ident[0] != "arrival":
                times[ident].append(end)
            if waits and entry[5] is not None and ident[0] != "phantom":
                waits[entry[4]].append(max(0.0, end - entry[5]))


def _next_available(lanes, pointers, sizes, taken, own, t):
    """When the next ticket this counter may call becomes callable (None: nothing ever will)."""
    soonest = None
    for index in own:
        lane = lanes[index]
        if taken[index] is not None:
            for position, entry in enumerate(lane):
                if position not in taken[index] and entry[1] > t and (soonest is None or entry[1] < soonest):
                    soonest = entry[1]
            continue
        position = pointers[index]
        if position < sizes[index]:
            available = lane[position][1]
            if available > t and (soonest is None or available < soonest):
                soonest = available
    return soonest


def _remaining(pools, service, elapsed, now, day_start, random_) -> float:
    """Time left on an attention already ``elapsed`` seconds long: an occupation time drawn among
    those of the history longer than that, minus what has passed."""
    return _rest(pools[service][int((now - day_start) // 3600) % 24], elapsed, random_)


def _rest(pool, elapsed, random_) -> float:
    """Time left on something already ``elapsed`` seconds long whose lengths are the sorted ``pool``."""
    if not pool:
        return 0.0
    first = bisect_right(pool, elapsed)
    if first < len(pool):
        return pool[first + int(random_() * (len(pool) - first))] - elapsed
    # Longer than anything on record: it should end soon, but nobody knows when.
    return -math.log(1.0 - random_()) * max(60.0, 0.2 * pool[len(pool) // 2])
