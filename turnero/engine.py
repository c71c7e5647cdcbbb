"""The queue engine: issuing, calling, serving, transferring and closing tickets, and counters.

Plain Python over the store. Each public method that changes anything is one ``BEGIN IMMEDIATE``
transaction that appends exactly one event per transition, so the event ``seq`` is gap-free and
two counters can never hold the same ticket (SQLite lets one writer in at a time and every check
is made inside the writing transaction). Errors are :class:`DomainError` with stable codes.
"""
from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime

from config import PRIORITY_CLASSES
from turnero import ordering
from turnero.documents import validate_document
from turnero.errors import conflict, invalid, not_found
from turnero.queries import CURRENT_FOR_PUBLIC_ID, QueueQueries
from turnero.texts import check_text, unsafe

OUTCOMES = ("resolved", "pending", "referred")
OPEN_STATES = ("called", "serving")
STATE_LABELS = {
    "waiting": "en espera", "called": "llamado", "serving": "en atención", "done": "atendido",
    "no_show": "no se presentó", "transferred": "derivado", "cancelled": "anulado", "expired": "vencido",
}
# Which states each transition accepts (SPEC.md, "States and transitions").
ALLOWED_FROM = {
    "call": ("waiting",), "recall": ("called",), "start": ("called",), "finish": ("serving",),
    "no_show": ("called",), "transfer": ("called", "serving"), "cancel": ("waiting", "called"),
    "requeue": ("no_show", "cancelled"), "return": ("called",), "priority": ("waiting",),
}
MAX_NOTE = 2000
MAX_SHORT = 120
MAX_COMMENT = 500


class Engine(QueueQueries):
    """The state machine of tickets and counters (the reads it inherits live in :mod:`turnero.queries`)."""

    # ----------------------------------------------------------------- issuing

    def issue(self, service: str | None, priority: str | None = None, language: str = "es",
              document: dict | None = None, appointment: str | None = None, channel: str = "kiosk",
              name: str | None = None, idempotency_key: str | None = None,
              audit: dict | None = None) -> tuple[dict, bool]:
        """Issue a ticket. Returns (ticket, created); a repeated idempotency key returns the first.

        Errors: unknown_service, invalid_priority, invalid_language, invalid_document (422);
        unknown_appointment (422), appointment_used, appointment_cancelled, service_closed,
        daily_cap_reached (409).
        """
        if priority is not None and priority not in PRIORITY_CLASSES:
            raise invalid("invalid_priority", f"Clase de prioridad desconocida: {priority!r}. "
                          f"Use {', '.join(PRIORITY_CLASSES)}.")
        if language not in self.settings.sede["languages"]:
            raise invalid("invalid_language", f"Idioma no disponible en esta sede: {language!r}.")
        document = validate_document(document)
        idempotency_key = idempotency_key or None  # an empty key is no key (else the second "" collides)
        check_text("name", name, MAX_SHORT, code="invalid_name")
        with self.store.write(audit=audit) as tx:
            if idempotency_key:
                row = tx.one("SELECT * FROM tickets WHERE idempotency_key = ?", (idempotency_key,))
                if row is not None:
                    return self.ticket_view(tx.conn, row), False
            appointment_row = None
            if appointment is not None:
                appointment_row = tx.one("SELECT * FROM appointments WHERE id = ?", (appointment,))
                if appointment_row is None:
                    raise invalid("unknown_appointment", f"No existe la cita {appointment!r}.")
                if appointment_row["status"] == "cancelled":
                    raise conflict("appointment_cancelled", "La cita fue anulada.")
                if appointment_row["ticket_id"]:
                    raise conflict("appointment_used", "Ya se emitió un turno para esta cita.")
                if service is None:
                    service = appointment_row["service"]
                elif service != appointment_row["service"]:
                    raise invalid("appointment_mismatch", "La cita es para otro servicio.")
                if document is None and appointment_row["document_type"]:
                    document = {"type": appointment_row["document_type"],
                                "number": appointment_row["document_number"]}
                name = name or appointment_row["name"]
                channel = "appointment"
            if service not in self.settings.services:
                raise invalid("unknown_service", f"Servicio desconocido: {service!r}.")
            svc = self.settings.services[service]
            day = self.clock.service_day(tx.now)
            reason = self.closed_reason(tx.conn, svc, tx.now, day)
            if reason == "closed":
                raise conflict("service_closed", f"{svc.name()} no atiende a esta hora.")
            if reason == "daily_cap_reached":
                raise conflict("daily_cap_reached", f"{svc.name()} ya no tiene turnos disponibles hoy.")
            number = tx.one(
                "INSERT INTO day_numbers (service, service_day, last_number) VALUES (?, ?, 1) "
                "ON CONFLICT(service, service_day) DO UPDATE SET last_number = last_number + 1 "
                "RETURNING last_number", (svc.number_key, day))[0]
            ticket_id = str(uuid.uuid4())
            print_status = "disabled" if self.settings.printer["type"] == "none" else "queued"
            tx.execute(
                "INSERT INTO tickets (id, public_id, code, number, service, service_day, status, priority, "
                "channel, language, document_type, document_number, name, appointment_id, appointment_at, "
                "issued_at, queued_at, idempotency_key, print_status) "
                "VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket_id, secrets.token_urlsafe(9), ticket_code(svc.prefix, number), number, service, day,
                 priority, channel, language, document["type"] if document else None,
                 document["number"] if document else None, name, appointment,
                 appointment_row["starts_at"] if appointment_row else None, tx.now, tx.now,
                 idempotency_key, print_status))
            if appointment_row is not None:
                tx.execute("UPDATE appointments SET ticket_id = ?, updated_at = ? WHERE id = ?",
                           (ticket_id, tx.now, appointment))
            if print_status == "queued":
                tx.execute("INSERT INTO print_jobs (ticket_id, next_attempt_at, created_at) VALUES (?, ?, ?)",
                           (ticket_id, tx.now, tx.now))
            ticket = self.ticket_view(tx.conn, self._row(tx, ticket_id), just_issued=True)
            tx.append_event("ticket.issued", {"ticket": ticket})
            return ticket, True

    # ----------------------------------------------------------------- calling

    def call_next(self, counter_id: str, staff: str, audit: dict | None = None) -> dict | None:
        """Call the next ticket for a counter; None when nothing waits.

        Errors: unknown_counter (404), counter_taken, counter_busy, counter_paused, staff_busy (409).
        """
        self.counter_settings(counter_id)
        with self.store.write(audit=audit) as tx:
            state = self._take_counter(tx, counter_id, staff, for_call=True)
            services = [code for code in json.loads(state["services"]) if code in self.settings.services]
            mine, hold = self.language_rule(tx.conn, state, staff)
            chosen = ordering.next_waiting(tx.conn, self.settings.services, services, tx.now,
                                           state["preferential_streak"], self.settings.sede["preferential_streak"],
                                           mine, hold)
            if chosen is None:
                return None
            return self._call(tx, self._row(tx, chosen), counter_id, staff)

    def call(self, ticket_id: str, counter_id: str, staff: str, audit: dict | None = None) -> dict:
        """Call a specific waiting ticket to a counter. Errors as call_next, plus wrong_state."""
        self.counter_settings(counter_id)
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "call")
            state = self._take_counter(tx, counter_id, staff, for_call=True)
            if row["service"] not in json.loads(state["services"]):
                raise conflict("service_not_served", "Esta ventanilla no atiende ese servicio.")
            return self._call(tx, row, counter_id, staff)

    def recall(self, counter_id: str, staff: str, audit: dict | None = None, supervisor: bool = False) -> dict:
        """Announce the counter's called ticket again. Errors: nothing_to_recall, ticket_taken (409)."""
        self.counter_settings(counter_id)
        with self.store.write(audit=audit) as tx:
            row = tx.one("SELECT * FROM tickets WHERE counter = ? AND status IN ('called', 'serving')",
                         (counter_id,))
            if row is None or row["status"] != "called":
                raise conflict("nothing_to_recall", "Esta ventanilla no tiene un turno llamado.")
            self._check_holder(row, staff, supervisor)
            tx.execute("UPDATE tickets SET recalls = recalls + 1 WHERE id = ?", (row["id"],))
            ticket = self.ticket_view(tx.conn, self._row(tx, row["id"]))
            tx.append_event("ticket.recalled", {"ticket": ticket, "counter": self.counter_brief(counter_id),
                                                "recall": True, **self._override(row, staff)})
            return ticket

    def _call(self, tx, row, counter_id: str, staff: str) -> dict:
        tx.execute("UPDATE tickets SET status = 'called', called_at = ?, counter = ?, staff = ? WHERE id = ?",
                   (tx.now, counter_id, staff, row["id"]))
        preferential = ordering.is_preferential(row["priority"])
        tx.execute("UPDATE counter_state SET preferential_streak = ? WHERE counter = ?",
                   (self._streak_after(tx, counter_id, preferential), counter_id))
        ticket = self.ticket_view(tx.conn, self._row(tx, row["id"]))
        tx.append_event("ticket.called", {"ticket": ticket, "counter": self.counter_brief(counter_id),
                                          "recall": False})
        return ticket

    def _streak_after(self, tx, counter_id, preferential: bool) -> int:
        current = tx.one("SELECT preferential_streak FROM counter_state WHERE counter = ?", (counter_id,))[0]
        return current + 1 if preferential else 0

    # ----------------------------------------------------------------- serving

    def start(self, ticket_id: str, staff: str, audit: dict | None = None, supervisor: bool = False) -> dict:
        """called -> serving. Errors: unknown_ticket (404), wrong_state, ticket_taken (409)."""
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "start", staff, supervisor)
            tx.execute("UPDATE tickets SET status = 'serving', started_at = ?, staff = COALESCE(staff, ?) "
                       "WHERE id = ?", (tx.now, staff, ticket_id))
            return self._emit_ticket(tx, ticket_id, "ticket.started", **self._override(row, staff))

    def finish(self, ticket_id: str, staff: str, outcome: str, result: str | None = None,
               case_ref: str | None = None, notes: str | None = None, audit: dict | None = None,
               supervisor: bool = False) -> dict:
        """serving -> done, with an attention record naming who finished it.

        Errors: invalid_outcome, invalid_result, invalid_field (422); wrong_state, ticket_taken (409).
        """
        if outcome not in OUTCOMES:
            raise invalid("invalid_outcome", f"Resultado desconocido: {outcome!r}. Use {', '.join(OUTCOMES)}.")
        check_text("case_ref", case_ref, MAX_SHORT)
        check_text("notes", notes, MAX_NOTE, multiline=True)
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "finish", staff, supervisor)
            catalog = self.settings.services[row["service"]].result_codes
            if result is not None and catalog and result not in catalog:
                raise invalid("invalid_result", f"Código de resultado desconocido para {row['service']}: {result!r}.")
            check_text("result", result, MAX_SHORT)
            tx.execute("UPDATE tickets SET status = 'done', finished_at = ? WHERE id = ?", (tx.now, ticket_id))
            attention = self._attention(tx, ticket_id, staff, outcome, result, case_ref, notes)
            return self._emit_ticket(tx, ticket_id, "ticket.finished", attention=attention,
                                     **self._override(row, staff))

    def no_show(self, ticket_id: str, staff: str, audit: dict | None = None, supervisor: bool = False) -> dict:
        """called -> no_show, with an attention record (outcome no_show). Errors: wrong_state, ticket_taken."""
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "no_show", staff, supervisor)
            tx.execute("UPDATE tickets SET status = 'no_show', finished_at = ? WHERE id = ?", (tx.now, ticket_id))
            attention = self._attention(tx, ticket_id, staff, "no_show")
            return self._emit_ticket(tx, ticket_id, "ticket.no_show", attention=attention,
                                     **self._override(row, staff))

    def transfer(self, ticket_id: str, service: str, staff: str, notes: str | None = None,
                 audit: dict | None = None, supervisor: bool = False) -> dict:
        """called|serving -> transferred, plus a new waiting ticket in ``service`` (same code and
        public id, original issue time and priority). Returns the new ticket.

        Errors: unknown_service, same_service (422); wrong_state, ticket_taken (409).
        """
        if service not in self.settings.services:
            raise invalid("unknown_service", f"Servicio desconocido: {service!r}.")
        check_text("notes", notes, MAX_NOTE, multiline=True)
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "transfer", staff, supervisor)
            if row["service"] == service:
                raise invalid("same_service", "El turno ya pertenece a ese servicio.")
            was_serving = row["status"] == "serving"
            tx.execute("UPDATE tickets SET status = 'transferred', finished_at = ? WHERE id = ?",
                       (tx.now, ticket_id))
            attention = None
            if was_serving:
                attention = self._attention(tx, ticket_id, staff, "referred", notes=notes)
            new_id = str(uuid.uuid4())
            tx.execute(
                "INSERT INTO tickets (id, public_id, code, number, service, service_day, status, priority, channel,"
                " language, document_type, document_number, name, issued_at, queued_at, transferred_from,"
                " print_status) SELECT ?, public_id, code, number, ?, service_day, 'waiting', priority, channel,"
                " language, document_type, document_number, name, issued_at, issued_at, id, 'disabled'"
                " FROM tickets WHERE id = ?", (new_id, service, ticket_id))
            old = self.ticket_view(tx.conn, self._row(tx, ticket_id))
            new = self.ticket_view(tx.conn, self._row(tx, new_id))
            data = {"ticket": new, "from": old, "to": new, "by": staff, "notes": notes, **self._override(row, staff)}
            if attention is not None:
                data["attention"] = attention
            tx.append_event("ticket.transferred", data)
            return new

    def cancel(self, ticket_id: str, staff: str, reason: str | None = None, audit: dict | None = None,
               supervisor: bool = False) -> dict:
        """waiting|called -> cancelled. Errors: wrong_state, ticket_taken (409)."""
        check_text("reason", reason, MAX_SHORT)
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "cancel", staff, supervisor)
            tx.execute("UPDATE tickets SET status = 'cancelled', finished_at = ?, cancel_reason = ? WHERE id = ?",
                       (tx.now, reason, ticket_id))
            return self._emit_ticket(tx, ticket_id, "ticket.cancelled", reason=reason, by=staff,
                                     **self._override(row, staff))

    def requeue(self, ticket_id: str, staff: str, reason: str | None = None, audit: dict | None = None) -> dict:
        """no_show|cancelled -> waiting, at the back of its class (it re-enters the queue now)."""
        check_text("reason", reason, MAX_SHORT)
        with self.store.write(audit=audit) as tx:
            self._ticket_for(tx, ticket_id, "requeue")
            tx.execute("UPDATE tickets SET status = 'waiting', queued_at = ?, called_at = NULL, started_at = NULL,"
                       " finished_at = NULL, counter = NULL, staff = NULL, cancel_reason = NULL WHERE id = ?",
                       (tx.now, ticket_id))
            return self._emit_ticket(tx, ticket_id, "ticket.requeued", by=staff, reason=reason)

    def return_to_queue(self, ticket_id: str, staff: str, audit: dict | None = None,
                        supervisor: bool = False) -> dict:
        """called -> waiting, back in its original place (``queued_at`` is kept). Errors: ticket_taken."""
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "return", staff, supervisor)
            tx.execute("UPDATE tickets SET status = 'waiting', called_at = NULL, counter = NULL, staff = NULL "
                       "WHERE id = ?", (ticket_id,))
            return self._emit_ticket(tx, ticket_id, "ticket.returned", by=staff, **self._override(row, staff))

    def set_priority(self, ticket_id: str, priority: str | None, staff: str, audit: dict | None = None) -> dict:
        """Change the class of a waiting ticket. Errors: invalid_priority (422), wrong_state (409)."""
        if priority is not None and priority not in PRIORITY_CLASSES:
            raise invalid("invalid_priority", f"Clase de prioridad desconocida: {priority!r}.")
        with self.store.write(audit=audit) as tx:
            row = self._ticket_for(tx, ticket_id, "priority")
            tx.execute("UPDATE tickets SET priority = ? WHERE id = ?", (priority, ticket_id))
            return self._emit_ticket(tx, ticket_id, "ticket.priority_changed", previous=row["priority"], by=staff)

    def close_day(self, through_day: str | None = None, by: str | None = None, reason: str | None = None,
                  audit: dict | None = None) -> int:
        """Expire waiting and called tickets of service days up to ``through_day`` (default today).

        Returns how many tickets expired. Serving tickets are left to be finished. When a person
        closes the day (``by``), each expiry carries who and why, and one ``day.closed`` event
        records the act itself even when nothing was left to expire (the audit trail).
        """
        check_text("reason", reason, MAX_SHORT)
        who = {"by": by, "reason": reason} if by is not None else {}
        with self.store.write(audit=audit) as tx:
            day = through_day or self.clock.service_day(tx.now)
            rows = tx.all("SELECT id FROM tickets WHERE status IN ('waiting', 'called') AND service_day <= ? "
                          "ORDER BY issued_at", (day,))
            for row in rows:
                tx.execute("UPDATE tickets SET status = 'expired', finished_at = ? WHERE id = ?", (tx.now, row["id"]))
                self._emit_ticket(tx, row["id"], "ticket.expired", **who)
            if by is not None:
                tx.append_event("day.closed", {"service_day": day, "expired": len(rows), **who})
            return len(rows)

    def roll_over(self) -> int:
        """Expire what is left of earlier service days (run at local midnight and at start)."""
        yesterday = datetime.fromisoformat(self.clock.service_day()).date().toordinal() - 1
        return self.close_day(datetime.fromordinal(yesterday).date().isoformat())

    # ----------------------------------------------------------------- counters

    def open_counter(self, counter_id: str, staff: str, services: list | None = None,
                     audit: dict | None = None) -> dict:
        """The user takes the counter (leaving any other). Errors: counter_taken, staff_busy (409)."""
        self.counter_settings(counter_id)
        if services is not None:
            unknown = [code for code in services if code not in self.settings.services]
            if unknown or not services:
                raise invalid("unknown_service", f"Servicio desconocido: {unknown[0] if unknown else '(ninguno)'}.")
        with self.store.write(audit=audit) as tx:
            self._take_counter(tx, counter_id, staff, for_call=False, services=services)
            return self.counter_view(tx.conn, counter_id)

    def close_counter(self, counter_id: str, staff: str, supervisor: bool = False, audit: dict | None = None) -> dict:
        """The user leaves the counter. Errors: counter_taken, counter_busy (409)."""
        self.counter_settings(counter_id)
        with self.store.write(audit=audit) as tx:
            state = self.counter_state(tx, counter_id)
            if state["state"] == "closed":
                return self.counter_view(tx.conn, counter_id)
            if state["staff"] != staff and not supervisor:
                raise conflict("counter_taken", f"La ventanilla está a cargo de {state['staff']}.")
            self._ensure_empty(tx, counter_id)
            self._set_state(tx, counter_id, "closed", None, None, "counter.closed")
            return self.counter_view(tx.conn, counter_id)

    def pause_counter(self, counter_id: str, staff: str, reason: str, audit: dict | None = None) -> dict:
        """open -> paused. Errors: invalid_reason (422), counter_busy, counter_taken, counter_closed (409)."""
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_SHORT or unsafe(reason):
            raise invalid("invalid_reason", "Indique el motivo de la pausa (sin caracteres de control).")
        self.counter_settings(counter_id)
        with self.store.write(audit=audit) as tx:
            state = self._own_state(tx, counter_id, staff)
            if state["state"] == "paused":
                raise conflict("counter_paused", "La ventanilla ya está en pausa.")
            self._ensure_empty(tx, counter_id)
            self._set_state(tx, counter_id, "paused", staff, reason.strip(), "counter.paused")
            return self.counter_view(tx.conn, counter_id)

    def resume_counter(self, counter_id: str, staff: str, audit: dict | None = None) -> dict:
        self.counter_settings(counter_id)
        with self.store.write(audit=audit) as tx:
            state = self._own_state(tx, counter_id, staff)
            if state["state"] != "paused":
                raise conflict("counter_not_paused", "La ventanilla no está en pausa.")
            self._set_state(tx, counter_id, "open", staff, None, "counter.resumed")
            return self.counter_view(tx.conn, counter_id)

    def set_language_first(self, counter_id: str, staff: str, enabled: bool, supervisor: bool = False,
                           audit: dict | None = None) -> dict:
        """Turn "primero en mis idiomas" on or off for a counter (its holder, or a supervisor).

        Errors: unknown_counter (404); counter_closed, counter_taken (409). Emits
        ``counter.language_first_changed`` with the counter and ``by``."""
        self.counter_settings(counter_id)
        with self.store.write(audit=audit) as tx:
            if not supervisor:
                self._own_state(tx, counter_id, staff)
            else:
                self.counter_state(tx, counter_id)
            tx.execute("UPDATE counter_state SET language_first = ? WHERE counter = ?", (int(enabled), counter_id))
            view = self.counter_view(tx.conn, counter_id)
            tx.append_event("counter.language_first_changed", {"counter": view, "by": staff})
            return view

    def _own_state(self, tx, counter_id, staff):
        state = self.counter_state(tx, counter_id)
        if state["state"] == "closed":
            raise conflict("counter_closed", "La ventanilla está cerrada.")
        if state["staff"] != staff:
            raise conflict("counter_taken", f"La ventanilla está a cargo de {state['staff']}.")
        return state

    def _take_counter(self, tx, counter_id, staff, for_call: bool, services=None):
        state = self.counter_state(tx, counter_id)
        if state["state"] != "closed" and state["staff"] != staff:
            raise conflict("counter_taken", f"La ventanilla está a cargo de {state['staff']}.")
        if for_call:
            if state["state"] == "paused":
                raise conflict("counter_paused", "La ventanilla está en pausa.")
            held = tx.one("SELECT code FROM tickets WHERE counter = ? AND status IN ('called', 'serving')",
                          (counter_id,))
            if held is not None:
                raise conflict("counter_busy", f"La ventanilla aún tiene el turno {held['code']}.")
        other = tx.one("SELECT counter FROM counter_state WHERE staff = ? AND state != 'closed' AND counter != ?",
                       (staff, counter_id))
        if other is not None:
            held = tx.one("SELECT code FROM tickets WHERE counter = ? AND status IN ('called', 'serving')",
                          (other["counter"],))
            if held is not None:
                raise conflict("staff_busy", f"Usted aún tiene el turno {held['code']} en "
                               f"{self.views.counter_name(other['counter'])}.")
            self._set_state(tx, other["counter"], "closed", None, None, "counter.closed")
        if state["state"] == "closed":
            chosen = services or list(self.settings.counters[counter_id].services)
            tx.execute("UPDATE counter_state SET services = ?, preferential_streak = 0 WHERE counter = ?",
                       (json.dumps(chosen), counter_id))
            self._set_state(tx, counter_id, "open", staff, None, "counter.opened")
        elif services is not None:
            tx.execute("UPDATE counter_state SET services = ? WHERE counter = ?", (json.dumps(services), counter_id))
        return self.counter_state(tx, counter_id)

    def _ensure_empty(self, tx, counter_id):
        held = tx.one("SELECT code FROM tickets WHERE counter = ? AND status IN ('called', 'serving')", (counter_id,))
        if held is not None:
            raise conflict("counter_busy", f"La ventanilla aún tiene el turno {held['code']}.")

    def counter_state(self, tx, counter_id):
        row = tx.one("SELECT * FROM counter_state WHERE counter = ?", (counter_id,))
        if row is None:
            tx.execute("INSERT INTO counter_state (counter, state, services, since) VALUES (?, 'closed', ?, ?)",
                       (counter_id, json.dumps(list(self.settings.counters[counter_id].services)), tx.now))
            row = tx.one("SELECT * FROM counter_state WHERE counter = ?", (counter_id,))
        return row

    def _set_state(self, tx, counter_id, state, staff, reason, event_type):
        tx.execute("UPDATE counter_state SET state = ?, staff = ?, pause_reason = ?, since = ? WHERE counter = ?",
                   (state, staff, reason, tx.now, counter_id))
        tx.append_event(event_type, {"counter": self.counter_view(tx.conn, counter_id)})

    # ----------------------------------------------------------------- appointments

    def upsert_appointment(self, appointment: dict) -> None:
        """Store or update one appointment pulled from the central system."""
        service = appointment.get("service")
        if service not in self.settings.services:
            raise invalid("unknown_service", f"Servicio desconocido: {service!r}.")
        document = validate_document(appointment.get("document")) if appointment.get("document") else None
        try:
            starts = self.clock.parse(appointment["starts_at"])
        except (KeyError, TypeError, ValueError):
            raise invalid("invalid_appointment", f"Hora de cita inválida: {appointment.get('starts_at')!r}.") from None
        if appointment.get("status", "booked") not in ("booked", "cancelled") or not appointment.get("id"):
            raise invalid("invalid_appointment", "La cita necesita un id y un estado booked o cancelled.")
        with self.store.write() as tx:
            tx.execute(
                "INSERT INTO appointments (id, service, starts_at, document_type, document_number, name, status,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET service = excluded.service,"
                " starts_at = excluded.starts_at, document_type = excluded.document_type, document_number ="
                " excluded.document_number, name = excluded.name, status = excluded.status,"
                " updated_at = excluded.updated_at",
                (str(appointment["id"]), service, starts, document["type"] if document else None,
                 document["number"] if document else None, appointment.get("name"),
                 appointment.get("status", "booked"), tx.now))

    # ----------------------------------------------------------------- survey

    def rate(self, public_id: str, score, comment: str | None = None) -> dict:
        """The person's answer to "¿Cómo fue su atención?": once per visit, after it is done.

        Errors: unknown_ticket (404); invalid_score, invalid_comment (422); not_finished,
        already_rated (409)."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise invalid("invalid_score", "La calificación debe ser un número del 1 al 5.", field="score")
        comment = comment.strip() or None if isinstance(comment, str) else comment
        check_text("comment", comment, MAX_COMMENT, multiline=True, code="invalid_comment")
        with self.store.write() as tx:
            row = tx.one(CURRENT_FOR_PUBLIC_ID, (public_id,))
            if row is None:
                raise not_found("ticket", public_id)
            if tx.one("SELECT 1 FROM ratings WHERE public_id = ?", (public_id,)) is not None:
                raise conflict("already_rated", "Ya recibimos su opinión sobre esta atención. Gracias.")
            if row["status"] != "done":
                raise conflict("not_finished", "Podrá calificar la atención cuando haya terminado.",
                               current_status=row["status"])
            tx.execute("INSERT INTO ratings (public_id, ticket_id, service, service_day, score, comment, rated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (public_id, row["id"], row["service"], row["service_day"], score, comment, tx.now))
            extra = {"score": score, **({"comment": comment} if comment else {})}
            self._emit_ticket(tx, row["id"], "ticket.rated", **extra)
            return {"score": score, "comment": comment, "rated_at": self.clock.rfc3339(tx.now)}

    # ----------------------------------------------------------------- helpers

    def _row(self, tx, ticket_id):
        return tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))

    def _ticket_for(self, tx, ticket_id, action, staff=None, supervisor=False):
        """The ticket row, if ``action`` may be taken on it now. A called or serving ticket is
        acted on only by the staff member who holds it, or by a supervisor (``staff`` given)."""
        row = self._row(tx, ticket_id)
        if row is None:
            raise not_found("ticket", ticket_id)
        if row["status"] not in ALLOWED_FROM[action]:
            where = f" por {self.views.counter_name(row['counter'])}" if row["status"] in OPEN_STATES else ""
            raise conflict("wrong_state", f"El turno {row['code']} está {STATE_LABELS[row['status']]}{where}.",
                           current_status=row["status"])
        self._check_holder(row, staff, supervisor)
        return row

    def _check_holder(self, row, staff, supervisor):
        """Errors: ticket_taken (409) when another staff member holds the ticket."""
        if staff is None or row["status"] not in OPEN_STATES or not row["staff"] or row["staff"] == staff:
            return
        if not supervisor:
            raise conflict("ticket_taken", f"El turno {row['code']} está a cargo de {row['staff']} en "
                           f"{self.views.counter_name(row['counter'])}; solo esa persona o un supervisor "
                           "puede atenderlo.", holder=row["staff"])

    @staticmethod
    def _override(row, staff) -> dict:
        """What an event carries when a supervisor acts on a ticket someone else holds."""
        if row["status"] in OPEN_STATES and row["staff"] and row["staff"] != staff:
            return {"override": {"by": staff, "holder": row["staff"], "as": "supervisor"}}
        return {}

    def _emit_ticket(self, tx, ticket_id, event_type, attention=None, **extra) -> dict:
        ticket = self.ticket_view(tx.conn, self._row(tx, ticket_id))
        data = {"ticket": ticket, **extra}
        if attention is not None:
            data["attention"] = attention
        tx.append_event(event_type, data)
        return ticket

    def _attention(self, tx, ticket_id, staff, outcome, result=None, case_ref=None, notes=None) -> dict:
        row = self._row(tx, ticket_id)
        wait = row["called_at"] - row["issued_at"] if row["called_at"] else None
        served = tx.now - row["started_at"] if row["started_at"] else None
        cursor = tx.execute(
            "INSERT INTO attentions (ticket_id, service, counter, staff, priority, issued_at, called_at, started_at,"
            " ended_at, wait_seconds, service_seconds, outcome, result, case_ref, notes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ticket_id, row["service"], row["counter"], staff, row["priority"], row["issued_at"],
             row["called_at"], row["started_at"], tx.now, wait, served, outcome, result, case_ref, notes))
        return self.views.attention(tx.one("SELECT * FROM attentions WHERE id = ?", (cursor.lastrowid,)))


def ticket_code(prefix: str, number: int) -> str:
    return f"{prefix}-{number:03d}"


