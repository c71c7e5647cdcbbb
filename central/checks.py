"""The forms the central receiver accepts, checked before anything reaches the database, so that
malformed input (even from an authenticated box) is a 4xx answer, never a 500: times in RFC 3339
extended format with an offset, integers that fit a BIGINT, text that is valid UTF-8 (no lone
surrogates) without control characters, JSON no deeper than :data:`MAX_DEPTH`.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime

MAX_SEQ = 2 ** 63 - 1  # PostgreSQL's BIGINT, SQLite's INTEGER
MAX_DEPTH = 32  # an event's data is a few levels deep; nothing legitimate comes near this
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_json(raw: bytes):
    """The body as JSON, or None when it is not JSON (or too deep for the parser)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def rfc3339(value) -> datetime | None:
    """``value`` as an aware datetime if it is RFC 3339 extended format with an offset, else None
    (``20261204T101500-0500`` is ISO 8601 basic format: refused)."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError:  # month 13, second 60, ...
        return None


def is_date(value) -> bool:
    return isinstance(value, str) and DATE.fullmatch(value) is not None


def is_int(value, low: int = 1, high: int = MAX_SEQ) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON)
        return False
    return True


def is_text(value, limit: int) -> bool:
    """A non-empty single-line string of at most ``limit`` characters, storable anywhere."""
    return (isinstance(value, str) and 0 < len(value) <= limit and is_utf8(value)
            and CONTROL.search(value) is None)


def optional_text(value, limit: int) -> bool:
    return value is None or is_text(value, limit)


def optional_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and _finite(value))


def number_or_none(value):
    return float(value) if optional_number(value) and value is not None else None


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def json_problem(value) -> str | None:
    """What makes ``value`` unfit to store as JSON text (too deep, a lone surrogate), or None.
    Iterative: a deep value must not exhaust the stack here either."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            if not is_utf8(item):
                return "holds text that is not valid Unicode"
        elif isinstance(item, dict):
            for key, inner in item.items():
                if not is_utf8(key):
                    return "holds a key that is not valid Unicode"
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return "holds a number that is not finite"
    return None
