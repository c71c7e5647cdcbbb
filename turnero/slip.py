"""What a ticket slip says, as data: the printer and the kiosk screen render the same content.

Texts come from the ``printer`` catalog in the ticket's language (Spanish fallback); the footer
has one line per language of the sede, without repeating a line a fallback made identical.
"""
from __future__ import annotations

from turnero.i18n import translate
from turnero.wait_words import wait_words


def ticket_slip(settings, ticket: dict, clock) -> dict:
    """The content of the slip for a ticket (staff or public view; personal data is not used)."""
    lang = ticket.get("language") or "es"
    issued = clock.parse(ticket["issued_at"]) if isinstance(ticket["issued_at"], str) else ticket["issued_at"]
    local = clock.local(issued)
    position = ticket.get("position")
    priority = ticket.get("priority")
    footer: list[str] = []
    for language in settings.sede["languages"]:
        line = translate("printer.footer", language)
        if line not in footer:
            footer.append(line)
    return {
        "language": lang,
        "sede": settings.sede["name"],
        "code": ticket["code"],
        "service_label": ticket["service_label"],
        "priority": priority,
        "priority_label": translate(f"printer.priority.{priority}", lang) if priority else None,
        "date": local.strftime("%d/%m/%Y"),
        "time": local.strftime("%H:%M"),
        "people_ahead": position - 1 if position else None,
        "eta_minutes": ticket.get("eta_minutes"),
        "eta_range_minutes": ticket.get("eta_range_minutes"),
        # A waiting ticket's estimate in words ("Espera estimada: entre 15 y 25 min"); none once called.
        "eta_text": wait_words("printer", ticket, lang) if position else None,
        "qr": ticket["status_url"],
        "labels": {key: translate(f"printer.{key}", lang) for key in
                   ("service", "preferential", "people_ahead", "scan", "issued")},
        "footer": footer,
        # The Libro de Reclamaciones, when the sede prints it ([printer] complaints_on_slip).
        "complaints": {"label": translate("printer.complaints", lang), "url": settings.sede["complaints_url"]}
        if settings.printer["complaints_on_slip"] and settings.sede["complaints_url"] else None,
    }
