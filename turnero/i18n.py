"""Message catalogs for every page: Spanish first, then the other languages of the sede.

Catalogs are flat JSON files in ``turnero/locale/<lang>/<area>.json`` (key -> text, ``{name}``
placeholders; keys start with the area, e.g. ``kiosk.``), merged per language. Spanish is complete by rule; another language may lack a key, and then the
Spanish text is shown and :func:`missing` lists the key, so a translation is never invented.
Babel/CLDR has no Shipibo-Konibo locale, which is why this is a small lookup and not gettext.

Plural forms: a text that counts something has one key per CLDR plural category of the number,
``<key>.one``, ``<key>.other`` (and ``.few``, ``.many``... where a language has them), each a
plain string like every other key. A language's plural forms are used once it has a rule in
:data:`PLURAL_RULES` and its catalog has the message's ``.other``; otherwise the Spanish forms
are shown with the Spanish rule, never a mix. Pages pick the form in the browser with
``Intl.PluralRules`` of :func:`plural_language`, which follows the same CLDR rules.

Translations made in the sede (the translation studio, :mod:`turnero.translations`) lie over the
files once a second person has reviewed them; Spanish is never overridden. A process is given
their source with :func:`init` (the app factory does it); several processes share one database,
so each checks the source's version at most once a second and reloads when another process
changed it. A process without a source (a test, the central) shows the files alone.
"""
from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "es"
LANGUAGE_NAMES = {"es": "Español", "qu": "Runasimi (Quechua)", "ay": "Aymar aru (Aymara)",
                  "shp": "Shipibo-Konibo", "en": "English"}


CHECK_SECONDS = 1.0  # how stale another process's review may be here


@lru_cache(maxsize=None)
def shipped(language: str) -> dict:
    """The catalog files of ``language`` alone (key -> text)."""
    merged: dict = {}
    folder = LOCALE_DIR / language
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


class _Overlay:
    """The reviewed translations of this process's source, by language, with the version they
    were read at. Its state is replaced whole, never changed in place: readers need no lock."""

    def __init__(self, source=None):
        self.source = source  # .version() -> int | None, .reviewed(lang) -> dict | None (None: unknown now)
        self.version = None
        self.checked = float("-inf")
        self.merged: dict = {}

    def catalog(self, language: str) -> dict:
        now = time.monotonic()
        if now - self.checked >= CHECK_SECONDS:
            self.checked = now
            version = self.source.version()
            if version is not None and version != self.version:
                self.version, self.merged = version, {}
        merged = self.merged.get(language)
        if merged is None:
            version, files, spanish = self.version, shipped(language), shipped(DEFAULT)
            found = self.source.reviewed(language)
            if found is None:  # unreadable now: the files alone, until the next check reads them again
                found, self.version = {}, None
                version = None
            # Only keys Spanish still has: a string removed from the files leaves no orphan on a page.
            reviewed = {key: text for key, text in found.items() if key in spanish}
            merged = {**files, **reviewed} if reviewed else files
            if self.version == version:  # not read across a reload made meanwhile by another thread
                self.merged = {**self.merged, language: merged}
        return merged


_overlay = _Overlay()


def init(source) -> None:
    """Lay ``source``'s reviewed translations over the files in this process (None: files only)."""
    global _overlay
    _overlay = _Overlay(source)


def refresh() -> None:
    """Check the source on the next lookup (this process has just changed it)."""
    _overlay.checked = float("-inf")


def catalog(language: str) -> dict:
    """Every text of ``language``: its files, and over them the translations reviewed in the sede."""
    overlay = _overlay
    if language == DEFAULT or overlay.source is None:
        return shipped(language)
    return overlay.catalog(language)


def _one_other(count) -> str:
    return "one" if count == 1 else "other"


# CLDR plural rules of the languages whose catalogs have plural forms (integers are enough here).
PLURAL_RULES = {"es": _one_other, "en": _one_other}
PLURAL_SUFFIXES = (".zero", ".one", ".two", ".few", ".many", ".other")


def plural_language(language: str) -> str:
    """The language whose plural rule and forms a page in ``language`` follows."""
    return language if language in PLURAL_RULES else DEFAULT


def plural(key: str, count: int, language: str = DEFAULT, **params) -> str:
    """The text of ``key`` for the number ``count``, in the form of its plural category."""
    if f"{key}.other" not in catalog(language):
        language = DEFAULT
    language = plural_language(language)
    forms = catalog(language)
    text = forms.get(f"{key}.{PLURAL_RULES[language](count)}") or forms.get(f"{key}.other") or key
    return text.format(**params) if params else text


def _plural_group(key: str) -> str | None:
    for suffix in PLURAL_SUFFIXES:
        if key.endswith(suffix):
            return key[:-len(suffix)]
    return None


def translate(key: str, language: str = DEFAULT, default: str | None = None, **params) -> str:
    """The text for ``key`` in ``language``, else in Spanish, else ``default`` (as given, not
    formatted: a value shown for a key the catalog does not have), else the key itself."""
    text = catalog(language).get(key) or catalog(DEFAULT).get(key)
    if text is None:
        return key if default is None else default
    return text.format(**params) if params else text


def messages(language: str, prefix: str = "") -> dict:
    """Every key (optionally under ``prefix``) resolved for ``language`` with Spanish fallback,
    for pages that render text in the browser."""
    spanish = catalog(DEFAULT)
    own = catalog(language)
    # A plural message comes whole from one language (see the module's note on plural forms).
    plural_own = plural_language(language) == language

    def resolve(key, text):
        group = _plural_group(key)
        if group is not None and f"{group}.other" in spanish:
            if plural_own and f"{group}.other" in own:
                return own.get(key) or own[f"{group}.other"]
            return text
        return own.get(key) or text

    return {key: resolve(key, text) for key, text in spanish.items() if key.startswith(prefix)}


def missing(languages=None) -> dict:
    """Keys of the Spanish catalog that each other language lacks: {lang: [keys]}."""
    languages = languages or [lang for lang in LANGUAGE_NAMES if lang != DEFAULT]
    spanish = set(catalog(DEFAULT))
    return {lang: sorted(spanish - set(catalog(lang))) for lang in languages}
