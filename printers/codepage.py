"""Fit text into the one code page the printer is forced to (CP858 by default).

python-escpos's MagicEncode switches code pages on its own, which some printers get wrong, so
:mod:`printers.render` selects one table and writes encoded bytes itself; this module brings every
character into that page first: accents that the page lacks lose their mark, typographic
punctuation becomes its plain form, the rest is "?".
"""
from __future__ import annotations

import codecs
import unicodedata
from functools import lru_cache

SUBSTITUTES = {
    "\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
    "\u2026": "...", "\u00a0": " ", "\u2022": "*", "\u20ac": "EUR",
}


@lru_cache(maxsize=None)
def python_codec(codepage: str) -> str:
    return codecs.lookup(codepage.lower()).name


def fit(text: str, codepage: str = "CP858") -> str:
    """``text`` with only characters that ``codepage`` can print."""
    codec = python_codec(codepage)
    out = []
    for char in text:
        if _encodable(char, codec):
            out.append(char)
            continue
        if char in SUBSTITUTES and all(_encodable(c, codec) for c in SUBSTITUTES[char]):
            out.append(SUBSTITUTES[char])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(base if base and all(_encodable(c, codec) for c in base) else "?")
    return "".join(out)


@lru_cache(maxsize=4096)
def _encodable(char: str, codec: str) -> bool:
    if char in "\n\t" or " " <= char <= "~":
        return True
    if ord(char) < 32:
        return False
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True
