"""The full (staff and central) shape of tickets, counters, attentions and events.

What each other audience may receive of them is defined once, in :mod:`turnero.audiences`.
"""
from __future__ import annotations

from turnero import audiences


class Views:
    def __init__(self, settings, clock):
        self.settings = settings
        self.clock = clock

    def service_label(self, code: str, language: str = "es") -> str:
        service = self.settings.services.get(code)
        if service is None:
            return code
        if service.discreet:
            return service.neutral_label.get(language) or service.neutral_label.get("es", "Atención")
        return service.name(language)

    def counter_name(self, counter_id: str | None) -> str | None:
        if counter_id is None:
            return None
        counter = self.settings.counters.get(counter_id)
        return counter.name if counter else counter_id

    def status_url(self, public_id: str) -> str:
        return f"{self.settings.sede['public_base_url'].rstrip('/')}/t/{public_id}"

    def ticket(self, row, position: int | None = None, estimate: dict | None = None) -> dict:
        """The staff view of a ticket row (see SPEC.md, ticket object). ``estimate``: the wait
        forecast of a waiting ticket (:func:`turnero.eta.estimate`), None when unknown."""
        t = self.clock.rfc3339
        if row["status"] != "waiting":
            estimate = None
        document = None
        if row["document_type"]:
            document = {"type": row["document_type"], "number": row["document_number"]}
        return {
            "id": row["id"],
            "public_id": row["public_id"],
            "code": row["code"],
            "number": row["number"],
            "service": row["service"],
            "service_label": self.service_label(row["service"], row["language"]),
            "status": row["status"],
            "priority": row["priority"],
            "channel": row["channel"],
            "language": row["language"],
            "position": position if row["status"] == "waiting" else None,
            "eta_minutes": estimate["minutes"] if estimate else None,
            "eta_range_minutes": {"low": estimate["low"], "high": estimate["high"]} if estimate else None,
            "issued_at": t(row["issued_at"]),
            "called_at": t(row["called_at"]),
            "started_at": t(row["started_at"]),
            "finished_at": t(row["finished_at"]),
            "counter": row["counter"],
            "counter_name": self.counter_name(row["counter"]),
            "staff": row["staff"],
            "recalls": row["recalls"],
            "appointment": row["appointment_id"],
            "appointment_at": t(row["appointment_at"]),
            "transferred_from": row["transferred_from"],
            "status_url": self.status_url(row["public_id"]),
            "print": {"status": row["print_status"]},
            "document": document,
            "name": row["name"],
        }

    def public_ticket(self, staff_view: dict) -> dict:
        return audiences.public_ticket(staff_view)

    def attention(self, row) -> dict:
        t = self.clock.rfc3339
        return {
            "ticket_id": row["ticket_id"], "service": row["service"], "counter": row["counter"],
            "staff": row["staff"], "priority": row["priority"], "issued_at": t(row["issued_at"]),
            "called_at": t(row["called_at"]), "started_at": t(row["started_at"]),
            "ended_at": t(row["ended_at"]), "wait_seconds": row["wait_seconds"],
            "service_seconds": row["service_seconds"], "outcome": row["outcome"], "result": row["result"],
            "case_ref": row["case_ref"], "notes": row["notes"],
        }

    def counter(self, counter, state_row, ticket: dict | None) -> dict:
        services = list(counter.services)
        if state_row is not None and state_row["services"]:
            import json

            services = json.loads(state_row["services"])
        state = state_row["state"] if state_row is not None else "closed"
        return {
            "id": counter.id, "name": counter.name, "spoken_name": counter.spoken_name,
            "services": services, "state": state,
            "staff": state_row["staff"] if state_row is not None and state != "closed" else None,
            "pause_reason": state_row["pause_reason"] if state_row is not None and state == "paused" else None,
            "since": self.clock.rfc3339(state_row["since"]) if state_row is not None else None,
            "ticket": ticket,
            "language_first": bool(state_row["language_first"]) if state_row is not None else False,
        }

    def event(self, event: dict) -> dict:
        return {"seq": event["seq"], "id": event["id"], "type": event["type"],
                "at": self.clock.rfc3339(event["at"]), "data": event["data"]}

