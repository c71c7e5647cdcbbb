"""The wait estimate in plain words ("entre 15 y 25 min"), for the slip and the status page.

The kiosk's and the status page's scripts choose among the same catalog keys the same way:
``<area>.eta_unknown`` when there is no estimate (no open counter serves the service),
``<area>.eta_soon`` when even the high end is 0, ``<area>.eta_about`` (plural on ``n``) when the
range is a single number, else ``<area>.eta_range`` (plural on ``high``).
"""
from __future__ import annotations

from turnero.i18n import plural, translate


def wait_words(area: str, ticket: dict, language: str) -> str:
    """``ticket``: any view with ``eta_minutes`` and ``eta_range_minutes``."""
    minutes = ticket.get("eta_minutes")
    spread = ticket.get("eta_range_minutes")
    if minutes is None or spread is None:
        return translate(f"{area}.eta_unknown", language)
    if spread["high"] == 0:
        return translate(f"{area}.eta_soon", language)
    if spread["low"] == spread["high"]:
        return plural(f"{area}.eta_about", spread["high"], language, n=spread["high"])
    return plural(f"{area}.eta_range", spread["high"], language, low=spread["low"], high=spread["high"])
