"""Times as people at the central office read them: in the sede's own time zone, and "hace 3 min"
rather than a UTC timestamp. Registered as Jinja filters by :func:`central.create_app`; the words
come from the catalog (``central.*``)."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def ago(moment, translate, now: datetime | None = None) -> str:
    """``hace unos segundos`` / ``hace 3 min`` / ``hace 2 h`` / ``hace 4 días``; ``nunca`` for None."""
    if not moment:
        return translate("central.never")
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    seconds = max(0, ((now or datetime.now(timezone.utc)) - when).total_seconds())
    if seconds < 60:
        return translate("central.ago_seconds")
    if seconds < 3600:
        return translate("central.ago_minutes", n=int(seconds // 60))
    if seconds < 2 * 86400:
        return translate("central.ago_hours", n=int(seconds // 3600))
    return translate("central.ago_days", n=int(seconds // 86400))


def local(moment, zone: str, translate) -> str:
    """``5 dic 2026, 10:15`` in ``zone``; ``—`` for None."""
    if not moment:
        return "—"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    when = when.astimezone(ZoneInfo(zone))
    return f"{_date(when, translate)}, {when:%H:%M}"


def day(text: str, translate) -> str:
    """``2026-12-05`` as ``5 dic 2026``."""
    return _date(datetime.fromisoformat(text), translate)


def _date(when: datetime, translate) -> str:
    return f"{when.day} {translate('central.months').split(',')[when.month - 1]} {when.year}"


def zone_name(zone: str) -> str:
    """``America/Lima`` as ``Lima``: the city people know, not the database key."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def mmss(seconds) -> str:
    """A duration as ``12:30`` (minutes:seconds); ``—`` when there is none."""
    if seconds is None:
        return "—"
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def share(value) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"
