"""Reading the queue: tickets, the waiting order, services, counters, the board and the events.

Read-only queries over the store, shared by the engine (which also writes) and by whoever only
looks (the supervisor's view, the voice, the printers). Payloads are shaped by :mod:`turnero.views`.
"""
from __future__ import annotations

import json

from turnero import eta, ordering
from turnero.clock import SedeClock
from turnero.errors import invalid, not_found
from turnero.store import Store
from turnero.views import Views

ORDER_COLUMNS = "id, service, priority, appointment_at, queued_at, number"
# A person's current ticket: a public id follows them through transfers, the newest ticket is theirs now.
CURRENT_FOR_PUBLIC_ID = "SELECT * FROM tickets WHERE public_id = ? ORDER BY issued_at DESC, rowid DESC LIMIT 1"


class QueueQueries:
    def __init__(self, store: Store, settings, clock: SedeClock | None = None):
        self.store = store
        self.settings = settings
        self.clock = clock or SedeClock(settings.timezone)
        store.clock = self.clock
        self.views = Views(settings, self.clock)
        self.estimates = eta.Estimator(settings, self.clock)

    def get_ticket(self, ticket_id: str) -> dict:
        row = self.store.read_one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        if row is None:
            raise not_found("ticket", ticket_id)
        return self.ticket_view(self.store.connect(), row)

    def ticket_history(self, ticket_id: str) -> list[dict]:
        """Events that touched the ticket, oldest first (transfers touch both tickets)."""
        ticket = self.store.read_one("SELECT issued_at FROM tickets WHERE id = ?", (ticket_id,))
        if ticket is None:
            return []
        # Only events since the ticket was issued (a minute's slack for a clock step): the index
        # on time keeps this a day's read however many months of events the box holds.
        rows = self.store.read(
            "SELECT e.* FROM events e INDEXED BY events_by_time WHERE e.at >= ? AND e.type LIKE 'ticket.%' AND ("
            "json_extract(e.data, '$.ticket.id') = ? OR json_extract(e.data, '$.from.id') = ?) ORDER BY e.seq",
            (ticket["issued_at"] - 60, ticket_id, ticket_id))
        return [self.views.event(event_from_row(row)) for row in rows]

    def public_ticket(self, public_id: str) -> dict:
        """The person's current ticket for a public id (after a transfer: the newest one)."""
        row = self.store.read_one(CURRENT_FOR_PUBLIC_ID, (public_id,))
        if row is None:
            raise not_found("ticket", public_id)
        return self.views.public_ticket(self.ticket_view(self.store.connect(), row))

    def survey_state(self, public_id: str) -> str:
        """The status page's survey: ``answered``, ``open`` (the visit is done) or ``closed``."""
        if self.store.read_one("SELECT 1 FROM ratings WHERE public_id = ?", (public_id,)) is not None:
            return "answered"
        row = self.store.read_one(CURRENT_FOR_PUBLIC_ID, (public_id,))
        return "open" if row is not None and row["status"] == "done" else "closed"

    def public_waiting(self, public_ids, pause=None) -> dict:
        """public id -> public view, for those of ``public_ids`` whose ticket waits (their status
        pages follow the estimate as the queue moves): one forecast for all of them. ``pause``:
        called every hundred tickets (a cooperative server lets requests in; see forecast.simulate)."""
        ids = list(public_ids)
        conn = self.store.connect()
        now = self.clock()
        estimates, _served = self.estimates.tickets(conn)
        rows = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows += conn.execute(f"SELECT * FROM tickets WHERE status = 'waiting' AND public_id IN"
                                 f" ({','.join('?' * len(chunk))})", chunk).fetchall()
        # One ranking of the queues concerned, not one count per page (a hall watches hundreds).
        places = ordering.positions(conn, self.settings.services, sorted({row["service"] for row in rows}), now)
        out = {}
        for index, row in enumerate(rows):
            if pause is not None and index % 100 == 99:
                pause()
            out[row["public_id"]] = self.views.public_ticket(self.views.ticket(row, places[row["id"]],
                                                                               estimates.get(row["id"])))
        return out

    def warm_estimates(self, pause=None) -> None:
        """Forecast the queue as it stands now, so the next transition finds it made (``pause``:
        see forecast.simulate)."""
        self.estimates.warm(self.store.connect(), pause)

    def queue(self, service: str | None = None) -> list[dict]:
        """Waiting tickets in call order, for one service or all of them."""
        if service is not None and service not in self.settings.services:
            raise invalid("unknown_service", f"Servicio desconocido: {service!r}.")
        codes = [service] if service else list(self.settings.services)
        conn = self.store.connect()
        estimates, _served = self.estimates.tickets(conn)
        out = []
        for code in codes:
            ordered = self.ordered_waiting(conn, code, self.clock(), "*")
            for index, row in enumerate(ordered):
                out.append(self.views.ticket(row, index + 1, estimates.get(row["id"])))
        if service is None:
            out.sort(key=lambda ticket: (ticket["position"], ticket["issued_at"]))
        return out

    def counter_queue(self, counter_id: str) -> dict:
        """A counter's waiting tickets in exactly the order its call-next takes them
        (:func:`ordering.call_order`, streak rule included): the services it serves now (or, closed,
        those it opens with, streak 0). Each ticket keeps its place in its own service's queue as
        ``position``; the list's order is the counter's. Errors: unknown_counter (404)."""
        counter = self.counter_settings(counter_id)
        conn = self.store.connect()
        now = self.clock()
        state = conn.execute("SELECT * FROM counter_state WHERE counter = ?", (counter_id,)).fetchone()
        if state is not None and state["state"] != "closed" and state["services"]:
            codes, streak = json.loads(state["services"]), state["preferential_streak"] or 0
            mine, hold = self.language_rule(conn, state, state["staff"])
        else:
            codes, streak, mine, hold = list(counter.services), 0, (), 0
        codes = [code for code in codes if code in self.settings.services]
        rows = conn.execute(f"SELECT * FROM tickets WHERE status = 'waiting' AND service IN"
                            f" ({','.join('?' * len(codes))})", codes).fetchall() if codes else []
        places = {}
        for code in codes:
            for index, row in enumerate(ordering.queue_order([r for r in rows if r["service"] == code],
                                                             self.settings.services, now)):
                places[row["id"]] = index + 1
        estimates, _served = self.estimates.tickets(conn)
        ordered = ordering.call_order(rows, self.settings.services, now, streak,
                                      self.settings.sede["preferential_streak"], mine, hold)
        return {"counter": counter_id, "services": codes, "language_first": bool(mine and hold),
                "tickets": [self.views.ticket(row, places[row["id"]], estimates.get(row["id"])) for row in ordered]}

    def language_rule(self, conn, state, staff) -> tuple[tuple, float]:
        """``(mine, hold)`` for :mod:`turnero.ordering`: the languages ``staff`` attends in and the
        bound in seconds while the counter calls "primero en mis idiomas", else ``((), 0)``."""
        if not state["language_first"]:
            return (), 0
        row = conn.execute("SELECT languages FROM users WHERE username = ?", (staff,)).fetchone()
        mine = tuple(json.loads(row["languages"])) if row is not None else ()
        return mine, self.settings.console["language_first_max_hold_minutes"] * 60

    def services_overview(self) -> list[dict]:
        conn = self.store.connect()
        now = self.clock()
        day = self.clock.service_day(now)
        estimates = self.estimates.services(conn)
        out = []
        for service in self.settings.services.values():
            waiting = conn.execute("SELECT COUNT(*) FROM tickets WHERE status = 'waiting' AND service = ?",
                                   (service.code,)).fetchone()[0]
            estimate = estimates.get(service.code)
            closed_reason = self.closed_reason(conn, service, now, day)
            out.append({
                "code": service.code, "prefix": service.prefix, "names": service.names,
                "descriptions": service.descriptions, "icon": service.icon, "discreet": service.discreet,
                "label": self.views.service_label(service.code),
                "neutral_label": service.neutral_label if service.discreet else None,
                "appointments": service.appointments, "target_wait_minutes": service.target_wait_minutes,
                "daily_cap": service.daily_cap or None, "waiting": waiting,
                "eta_minutes": estimate["minutes"] if estimate else None,
                "eta_range_minutes": {"low": estimate["low"], "high": estimate["high"]} if estimate else None,
                "open": closed_reason is None,
                "closed_reason": closed_reason,
            })
        return out

    def in_use(self) -> tuple[set, set]:
        """(services with open tickets, counters open or holding a ticket): what settings may not drop."""
        services = {row[0] for row in self.store.read(
            "SELECT DISTINCT service FROM tickets WHERE status IN ('waiting', 'called', 'serving')")}
        counters = {row[0] for row in self.store.read("SELECT counter FROM counter_state WHERE state != 'closed'")} \
            | {row[0] for row in self.store.read("SELECT DISTINCT counter FROM tickets WHERE status IN"
                                                 " ('called', 'serving') AND counter IS NOT NULL")}
        return services, counters

    def counters(self) -> list[dict]:
        conn = self.store.connect()
        return [self.counter_view(conn, counter_id) for counter_id in self.settings.counters]

    def counter(self, counter_id: str) -> dict:
        self.counter_settings(counter_id)
        return self.counter_view(self.store.connect(), counter_id)

    def board(self, limit: int | None = None, services=None) -> list[dict]:
        """The last calls and recalls, newest first; each its own entry."""
        limit = limit or self.settings.sede["board_size"]
        calls = []
        sql = "SELECT * FROM events WHERE type IN ('ticket.called', 'ticket.recalled') ORDER BY seq DESC LIMIT ?"
        batch = limit if not services else limit * 20
        for row in self.store.read(sql, (batch,)):
            entry = self.board_entry(event_from_row(row))
            if services and entry["service"] not in services:
                continue
            calls.append(entry)
            if len(calls) >= limit:
                break
        return calls

    def board_entry(self, event: dict) -> dict:
        ticket = event["data"]["ticket"]
        return {
            "seq": event["seq"], "code": ticket["code"], "counter": ticket["counter"],
            "counter_name": ticket["counter_name"], "service": ticket["service"],
            "service_label": ticket["service_label"], "priority": ticket["priority"],
            "called_at": self.clock.rfc3339(event["at"]), "recall": event["type"] == "ticket.recalled",
        }

    def events_after(self, after: int, limit: int = 500) -> list[dict]:
        rows = self.store.read("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        return [event_from_row(row) for row in rows]

    def last_seq(self) -> int:
        return self.store.read_one("SELECT COALESCE(MAX(seq), 0) FROM events")[0]

    def appointments_for_document(self, number: str) -> list[dict]:
        """Today's booked appointments without a ticket for a document number (kiosk check-in)."""
        return self._appointments_today("document_number = ?", number.strip().upper())

    def appointments_for_code(self, code: str) -> list[dict]:
        """Today's booked appointment without a ticket whose code (the central's id) is ``code``,
        as the person types it: case and surrounding spaces do not matter."""
        return self._appointments_today("UPPER(id) = ?", code.strip().upper())

    def _appointments_today(self, where: str, value: str) -> list[dict]:
        start, end = self.clock.day_bounds(self.clock.local().date())
        rows = self.store.read(f"SELECT * FROM appointments WHERE {where} AND status = 'booked' "
                               "AND ticket_id IS NULL AND starts_at >= ? AND starts_at < ? ORDER BY starts_at",
                               (value, start, end))
        return [{"id": row["id"], "service": row["service"], "starts_at": self.clock.rfc3339(row["starts_at"]),
                 "service_label": self.views.service_label(row["service"])} for row in rows]

    def counter_settings(self, counter_id):
        counter = self.settings.counters.get(counter_id)
        if counter is None:
            raise not_found("counter", counter_id)
        return counter

    def counter_brief(self, counter_id):
        counter = self.settings.counters[counter_id]
        return {"id": counter.id, "name": counter.name, "spoken_name": counter.spoken_name}

    def counter_view(self, conn, counter_id):
        state = conn.execute("SELECT * FROM counter_state WHERE counter = ?", (counter_id,)).fetchone()
        held = conn.execute("SELECT * FROM tickets WHERE counter = ? AND status IN ('called', 'serving')",
                            (counter_id,)).fetchone()
        ticket = self.ticket_view(conn, held) if held is not None else None
        return self.views.counter(self.settings.counters[counter_id], state, ticket)

    def ticket_view(self, conn, row, just_issued: bool = False) -> dict:
        if row["status"] != "waiting":
            return self.views.ticket(row)
        place = ordering.position(conn, row, self.settings.services[row["service"]], self.clock())
        return self.views.ticket(row, place, self.estimates.ticket(conn, row, just_issued))

    def ordered_waiting(self, conn, service, now, columns=ORDER_COLUMNS):
        # Only the ordering columns by default: positions are computed on every transition.
        rows = conn.execute(f"SELECT {columns} FROM tickets WHERE status = 'waiting' AND service = ?",
                            (service,)).fetchall()
        return ordering.queue_order(rows, self.settings.services, now)

    def closed_reason(self, conn, service, now, day) -> str | None:
        if service.hours:
            local = self.clock.local(now).strftime("%H:%M")
            if not service.hours[0] <= local < service.hours[1]:
                return "closed"
        if service.daily_cap:
            # Services sharing a prefix share their numbering, and so their cap counts it.
            row = conn.execute("SELECT last_number FROM day_numbers WHERE service = ? AND service_day = ?",
                               (service.number_key, day)).fetchone()
            if row is not None and row[0] >= service.daily_cap:
                return "daily_cap_reached"
        return None


def event_from_row(row) -> dict:
    return {"seq": row["seq"], "id": row["id"], "type": row["type"], "at": row["at"],
            "data": json.loads(row["data"])}
