"""What the kiosk says and shows beyond text: its steps aloud, the services' pictograms, and which
languages it offers.

Speech: the page names a step (:data:`STEPS`), never a text; the text is the catalog's, so
nothing typed and nothing personal is ever spoken. The voice itself (sources, the isolated
synthesis worker, the cache) belongs to the display part's voice, reached through the app's
``turnero.voice`` extension (the parts never import each other).

Languages: one is offered once everything a person in it meets is reviewed, the kiosk's screens
(``kiosk.``) and the slip its ticket prints (``printer.``), in the forms the translation studio
asks for (a language without a plural rule gives ``.other`` only; see :mod:`turnero.translations`).
Checked against :func:`turnero.i18n.catalog`, which holds shipped and reviewed strings only, and
remembered while the catalog is the same object (it is replaced whole when a review lands).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from turnero.i18n import DEFAULT, LANGUAGE_NAMES, catalog, messages, plural_language
from turnero.translations import translatable_keys

# step -> the catalog key said on it (the start screen is also where the language is chosen)
STEPS = {step: f"kiosk.speech.{step}" for step in ("start", "confirm", "document", "appointment", "ticket")}
REQUIRED_PREFIXES = ("kiosk.", "printer.")
PICTOGRAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}\.(png|svg|webp)")
PICTOGRAM_TYPES = {"png": "image/png", "svg": "image/svg+xml", "webp": "image/webp"}

_checked: dict = {}  # language -> (the catalog object checked, offered?)


@lru_cache(maxsize=None)
def required_keys(language: str) -> tuple:
    """The keys a language must have before the kiosk offers it (the files never change at run time)."""
    return tuple(key for key in translatable_keys(language) if key.startswith(REQUIRED_PREFIXES))


def offered(language: str) -> bool:
    if language == DEFAULT:
        return True
    texts = catalog(language)
    seen = _checked.get(language)
    if seen is not None and seen[0] is texts:
        return seen[1]
    result = all(texts.get(key) for key in required_keys(language))
    _checked[language] = (texts, result)  # holding the object keeps its identity from being reused
    return result


def pictogram_path(settings, name: str) -> Path | None:
    """The file of a service's pictogram, if ``name`` is one a service names and it exists in
    ``[kiosk] pictogram_dir`` (set only in the file on the box)."""
    folder = settings.kiosk["pictogram_dir"]
    if not folder or not PICTOGRAM.fullmatch(name or ""):
        return None
    if name not in {service.pictogram for service in settings.services.values()}:
        return None
    path = Path(folder) / name
    return path if path.is_file() else None


def kiosk_config(settings) -> dict:
    """What the kiosk page needs that may change while it runs (a language reviewed, a pictogram)."""
    codes = settings.sede["languages"]
    return {
        "languages": [{"code": code, "name": LANGUAGE_NAMES.get(code, code)} for code in codes if offered(code)],
        "messages": {code: messages(code, "kiosk.") for code in codes},
        "plural_languages": {code: plural_language(code) for code in codes},
        "pictograms": {code: f"/kiosk/pictogram/{service.pictogram}" for code, service in settings.services.items()
                       if service.pictogram and pictogram_path(settings, service.pictogram) is not None},
    }


def speech_candidates(step: str, language: str, languages) -> list | None:
    """``[language, key, text]`` to try in order, or None for an unknown step: the step in the
    kiosk's language when its (shipped or reviewed) catalog has the text, then Spanish. A text
    found in no catalog is passed as None: only a recording of that language may say it."""
    key = STEPS.get(step)
    if key is None:
        return None
    candidates = []
    if language != DEFAULT and language in languages:
        candidates.append([language, key, catalog(language).get(key)])
    candidates.append([DEFAULT, key, catalog(DEFAULT)[key]])
    return candidates
