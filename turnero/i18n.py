"""Message catalogs for every page: Spanish first, then the other languages of the sede.

Catalogs are flat JSON files in ``turnero/locale/<lang>/<area>.json`` (key -> text, ``{name}``
placeholders; keys start with the area, e.g. ``kiosk.``), merged per language. Spanish is complete by rule; another language may lack a key, and then the
Spanish text is shown and :func:`missing` lists the key, so a translation is never invented.
Babel/CLDR has no Shipibo-Konibo locale, which is why this is a small lookup and not gettext.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "es"
LANGUAGE_NAMES = {"es": "Español", "qu": "Runasimi (Quechua)", "ay": "Aymar aru (Aymara)",
                  "shp": "Shipibo-Konibo", "en": "English"}


@lru_cache(maxsize=None)
def catalog(language: str) -> dict:
    merged: dict = {}
    folder = LOCALE_DIR / language
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def translate(key: str, language: str = DEFAULT, **params) -> str:
    """The text for ``key`` in ``language``, else in Spanish, else the key itself."""
    text = catalog(language).get(key) or catalog(DEFAULT).get(key) or key
    return text.format(**params) if params else text


def messages(language: str, prefix: str = "") -> dict:
    """Every key (optionally under ``prefix``) resolved for ``language`` with Spanish fallback,
    for pages that render text in the browser."""
    spanish = catalog(DEFAULT)
    own = catalog(language)
    return {key: own.get(key) or text for key, text in spanish.items() if key.startswith(prefix)}


def missing(languages=None) -> dict:
    """Keys of the Spanish catalog that each other language lacks: {lang: [keys]}."""
    languages = languages or [lang for lang in LANGUAGE_NAMES if lang != DEFAULT]
    spanish = set(catalog(DEFAULT))
    return {lang: sorted(spanish - set(catalog(lang))) for lang in languages}
