"""UI strings translated in the sede: the translation studio's store (SPEC, "Languages").

Spanish stays the source (the catalog files); a translation is a ``borrador`` until a second
person marks it ``revisado``, and only then do citizens see it (:mod:`turnero.i18n` lays the
reviewed strings over the files). A change to a reviewed text makes it a ``borrador`` again.
Every change is one transaction with its audit row, and bumps a version in ``kv`` that the other
processes of the box (web workers, the device process) check to reload their catalogs.

A translation must keep the Spanish source's ``{placeholders}``, exactly: a page would fail to
format it, or show a hole. A plural message (``<key>.one``, ``<key>.other``...) is translated in
the forms its language has (:data:`turnero.i18n.PLURAL_RULES`); a language without a rule yet
gets just ``.other`` (i18n shows Spanish forms until it has one, never a mix).
"""
from __future__ import annotations

import sqlite3
from string import Formatter

from turnero import i18n
from turnero.audit import describe, with_details
from turnero.errors import DomainError, conflict, invalid

VERSION_KEY = "translations.version"
MAX_TEXT = 1000
STATES = ("borrador", "revisado")

# Where each string appears, by key prefix (the longest that matches): the studio's surface,
# whose name and page description are the catalog's ``admin.studio.surface.<surface>`` and
# ``admin.studio.where.<surface>``. Listed in the studio's order.
SURFACES = (
    ("kiosk", ("kiosk.",)),
    ("slip", ("printer.",)),
    ("display", ("display.",)),
    ("voice", ("voice.",)),
    ("public", ("public.",)),
    ("counter", ("counter.",)),
    ("supervisor", ("counter.sup.", "counter.alert.", "counter.audit.")),
    ("reports", ("counter.reports.",)),
    ("admin", ("admin.", "sync.")),
    ("common", ("common.", "error.")),
    ("central", ("central.",)),
)
_PREFIXES = sorted(((prefix, surface) for surface, prefixes in SURFACES for prefix in prefixes),
                   key=lambda item: -len(item[0]))


def surface_of(key: str) -> str:
    for prefix, surface in _PREFIXES:
        if key.startswith(prefix):
            return surface
    return "common"


def placeholders(text: str) -> set[str] | None:
    """The ``{names}`` of a text, or None when its braces do not parse (a page could not format it)."""
    try:
        return {name.split(".")[0].split("[")[0] for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError:
        return None


def check_placeholders(source: str, text: str) -> None:
    """Refuse a translation whose placeholders differ from its Spanish source's (422)."""
    wanted, found = placeholders(source), placeholders(text)
    if found is None:
        raise invalid("placeholder_mismatch", "Las llaves { } de la traducción no están bien cerradas. "
                      "Escriba cada marcador como en el castellano, por ejemplo {code}.")
    if found != wanted:
        missing, extra = sorted(wanted - found), sorted(found - wanted)
        parts = []
        if missing:
            parts.append("falta " + ", ".join(f"{{{name}}}" for name in missing))
        if extra:
            parts.append("sobra " + ", ".join(f"{{{name}}}" for name in extra))
        raise invalid("placeholder_mismatch", "La traducción debe llevar los mismos marcadores que el "
                      f"castellano ({'; '.join(parts)}). Cópielos tal cual, con sus llaves.",
                      missing=missing, extra=extra)


def target_languages() -> list[str]:
    return [code for code in i18n.LANGUAGE_NAMES if code != i18n.DEFAULT]


def plural_group(key: str) -> str | None:
    return i18n._plural_group(key)


def units(language: str) -> list[dict]:
    """The messages to translate into ``language``, in catalog order: ``{"key", "surface",
    "forms": [(key, spanish text)]}`` where a plural message has its forms (or just ``.other``,
    for a language without a plural rule) and any other message one form."""
    spanish = i18n.shipped(i18n.DEFAULT)
    has_rule = i18n.plural_language(language) == language
    out, groups = [], {}
    for key, text in spanish.items():
        group = plural_group(key)
        if group is None or f"{group}.other" not in spanish:
            out.append({"key": key, "surface": surface_of(key), "forms": [(key, text)]})
            continue
        if not has_rule and not key.endswith(".other"):
            continue
        unit = groups.get(group)
        if unit is None:
            unit = groups[group] = {"key": group, "surface": surface_of(key), "forms": [], "plural": True}
            out.append(unit)
        unit["forms"].append((key, text))
    return out


def translatable_keys(language: str) -> dict:
    """key -> Spanish source, for every form the studio offers in ``language``."""
    return {key: text for unit in units(language) for key, text in unit["forms"]}


def _check_language(language: str) -> None:
    if language not in target_languages():
        raise invalid("invalid_language", f"No se traduce a {language!r}: elija una de "
                      f"{', '.join(target_languages())} (el castellano es el original).")


class Translations:
    """The translation studio's strings, over the sede's :class:`~turnero.store.Store`."""

    def __init__(self, store):
        self.store = store

    # ------------------------------------------------------------ the catalogs' source (i18n)

    def version(self) -> int | None:
        """The version of the translations; None when it cannot be read now (the catalogs keep
        what they have: a page must not fail for this)."""
        return self.store.counter(VERSION_KEY)

    def reviewed(self, language: str) -> dict | None:
        """key -> reviewed text; None when it cannot be read now (asked again on the next lookup)."""
        try:
            rows = self.store.read("SELECT key, text FROM translations WHERE language = ? AND state = 'revisado'",
                                   (language,))
        except sqlite3.Error:
            return None
        return {row["key"]: row["text"] for row in rows}

    # ------------------------------------------------------------------------------ studio

    def entries(self, language: str) -> dict:
        """key -> {"text", "state", "author", "updated_at", "reviewer", "reviewed_at"}."""
        rows = self.store.read("SELECT * FROM translations WHERE language = ?", (language,))
        return {row["key"]: {name: row[name] for name in ("text", "state", "author", "updated_at", "reviewer",
                                                            "reviewed_at")} for row in rows}

    def save(self, language: str, key: str, text: str, author: str, audit: dict | None = None) -> dict:
        """Save a translation as borrador (unchanged text: nothing changes). Errors:
        invalid_language, unknown_key, empty_translation, translation_too_long, placeholder_mismatch (422)."""
        report = self.save_many(language, [(key, text)], author, audit)
        if report["refused"]:
            raise report["refused"][0]["error"]
        return self.entries(language)[key]

    def save_many(self, language: str, items, author: str, audit: dict | None = None,
                  sources: dict | None = None) -> dict:
        """Save ``(key, text)`` pairs as borrador in one transaction; a refused pair does not stop
        the others. ``sources``: key -> the Spanish text the translator saw (an import: a source
        changed since is refused). Returns {"accepted": [keys], "unchanged": [keys],
        "refused": [{"key", "error": DomainError}]}."""
        _check_language(language)
        offered = translatable_keys(language)
        accepted, unchanged, refused, checked = [], [], [], []
        for key, text in items:
            try:
                checked.append((key, self._checked_text(offered, key, text, (sources or {}).get(key))))
            except DomainError as error:
                refused.append({"key": key, "error": error})
        if not checked:
            return {"accepted": accepted, "unchanged": unchanged, "refused": refused}
        entry = _with_details(audit, author, "translation.save", {"language": language, "state": "borrador",
                                      "keys": [key for key, _ in checked][:50], "count": len(checked),
                                      **({"text": checked[0][1]} if len(checked) == 1 else {})})
        files = i18n.shipped(language)
        with self.store.write(audit=entry) as tx:
            for key, text in checked:
                row = tx.one("SELECT text FROM translations WHERE language = ? AND key = ?", (language, key))
                if (row["text"] if row is not None else files.get(key)) == text:
                    unchanged.append(key)
                    continue
                tx.execute("INSERT INTO translations (language, key, text, state, author, updated_at) "
                           "VALUES (?, ?, ?, 'borrador', ?, ?) ON CONFLICT(language, key) DO UPDATE SET "
                           "text = excluded.text, state = 'borrador', author = excluded.author, "
                           "updated_at = excluded.updated_at, reviewer = NULL, reviewed_at = NULL",
                           (language, key, text, author, tx.now))
                accepted.append(key)
            if accepted:
                tx.bump(VERSION_KEY)
        i18n.refresh()
        return {"accepted": accepted, "unchanged": unchanged, "refused": refused}

    @staticmethod
    def _checked_text(offered: dict, key: str, text, source: str | None) -> str:
        if key not in offered:
            raise invalid("unknown_key", f"No hay un texto {key!r} que traducir en esta lengua.")
        text = (text if isinstance(text, str) else "").strip()
        if not text:
            raise invalid("empty_translation", "Escriba la traducción (o deje el texto sin traducir).")
        if len(text) > MAX_TEXT:
            raise invalid("translation_too_long", f"La traducción pasa de {MAX_TEXT} caracteres.")
        if source is not None and source != offered[key]:
            raise invalid("source_changed", "El texto en castellano cambió desde que se exportó este "
                          "archivo: tradúzcalo de nuevo en el estudio.")
        check_placeholders(offered[key], text)
        return text

    def review(self, language: str, key: str, reviewer: str, seen_text: str | None = None,
               audit: dict | None = None) -> dict:
        """Mark a borrador as revisado. ``seen_text``: the text the reviewer read (changed since:
        409 translation_changed). Errors: unknown_translation (404), own_translation,
        already_reviewed (409)."""
        _check_language(language)
        entry = _with_details(audit, reviewer, "translation.review",
                              {"language": language, "keys": [key], "state": "revisado"})
        with self.store.write(audit=entry) as tx:
            row = tx.one("SELECT * FROM translations WHERE language = ? AND key = ?", (language, key))
            if row is None:
                raise DomainError("unknown_translation", f"No hay traducción de {key!r} que revisar.", 404)
            if seen_text is not None and row["text"] != seen_text.strip():
                raise conflict("translation_changed", "La traducción cambió mientras la leía: revise el texto nuevo.")
            if row["state"] == "revisado":
                raise conflict("already_reviewed", "Esta traducción ya está revisada.")
            if row["author"] == reviewer:
                raise conflict("own_translation", "Otra persona debe revisar su traducción: nadie revisa "
                               "lo que escribió.")
            tx.execute("UPDATE translations SET state = 'revisado', reviewer = ?, reviewed_at = ? "
                       "WHERE language = ? AND key = ?", (reviewer, tx.now, language, key))
            tx.bump(VERSION_KEY)
        i18n.refresh()
        return self.entries(language)[key]

    def discard(self, language: str, key: str, by: str, audit: dict | None = None) -> bool:
        """Remove a translation (the text shows in Spanish, or as shipped, again)."""
        _check_language(language)
        entry = _with_details(audit, by, "translation.discard",
                              {"language": language, "keys": [key], "state": "descartado"})
        with self.store.write(audit=entry) as tx:
            removed = tx.execute("DELETE FROM translations WHERE language = ? AND key = ?",
                                 (language, key)).rowcount > 0
            if removed:
                tx.bump(VERSION_KEY)
        i18n.refresh()
        return removed

    def progress(self, language: str) -> dict:
        return progress_without_store(language, self.entries(language))


def progress_without_store(language: str, entries: dict | None = None) -> dict:
    """Per surface: {"total", "revisado", "borrador", "missing"} counted in messages (a plural
    message is one, done when all its forms are). A string shipped in the files counts as
    revisado; a borrador over it as borrador."""
    files = i18n.shipped(language)
    out = {surface: {"total": 0, "revisado": 0, "borrador": 0, "missing": 0} for surface, _ in SURFACES}
    for unit in units(language):
        counts = out[unit["surface"]]
        counts["total"] += 1
        counts[unit_state(unit, entries or {}, files)] += 1
    return out


def unit_state(unit: dict, entries: dict, files: dict) -> str:
    """A message's state: missing (a form untranslated), borrador (a form in draft), or revisado."""
    states = []
    for key, _ in unit["forms"]:
        if key in entries:
            states.append(entries[key]["state"])
        else:
            states.append("revisado" if key in files else "missing")
    if "missing" in states:
        return "missing"
    return "borrador" if "borrador" in states else "revisado"


def _with_details(audit: dict | None, actor: str, action: str, details: dict) -> dict:
    """The action's audit entry with what changed; a caller without one (a script) still leaves
    a row naming the person."""
    return with_details(audit or describe(actor, "traductor", action), "translation", details)
