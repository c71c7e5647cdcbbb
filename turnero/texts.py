"""Free text typed at a kiosk or a console (a name, notes, a reason): what it may contain.

Control characters (NUL among them) break exports and logs; bidirectional overrides make a name
or a note read differently from what is stored (a "Trojan Source" trick). Both are refused.
"""
from __future__ import annotations

import unicodedata

from turnero.errors import invalid

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_BREAKS = frozenset("\n\r\t")


def unsafe(text: str, multiline: bool = False) -> bool:
    for char in text:
        if char in BIDI_CONTROLS:
            return True
        if unicodedata.category(char) == "Cc" and not (multiline and char in LINE_BREAKS):
            return True
    return False


def check_text(field: str, value, limit: int, multiline: bool = False, code: str = "invalid_field"):
    """None, or a text of at most ``limit`` characters without control or bidi-override characters.

    Errors: ``code`` (422)."""
    if value is None:
        return
    if not isinstance(value, str) or len(value) > limit:
        raise invalid(code, f"El campo {field} debe ser un texto de hasta {limit} caracteres.", field=field)
    if unsafe(value, multiline):
        raise invalid(code, f"El campo {field} tiene caracteres de control o de dirección de texto no permitidos.",
                      field=field)
