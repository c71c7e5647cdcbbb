"""The translation studio's strings as gettext PO files, for Poedit or Weblate (Babel).

Each form is one entry: ``msgctxt`` is the catalog key, ``msgid`` the Spanish source and
``msgstr`` the translation; a borrador is flagged ``fuzzy`` (the tools show it as needing
review). A plural message's forms are separate entries (``<key>.one``, ``<key>.other``), as in
the catalogs. An import saves each entry as a borrador by the importing person, checked like a
save in the studio, and reports what it accepted and refused.
"""
from __future__ import annotations

import io

from babel.messages.catalog import Catalog
from babel.messages.pofile import PoFileError, read_po, write_po

from turnero import i18n
from turnero.errors import invalid
from turnero.translations import Translations, units

HEADER = "# Turnero: textos de pantalla traducidos en la sede (el castellano es el original).\n#"


def export_po(translations: Translations, language: str) -> bytes:
    entries, files = translations.entries(language), i18n.shipped(language)
    catalog = Catalog(locale=language, project="Turnero", header_comment=HEADER,
                      language_team=i18n.LANGUAGE_NAMES.get(language, language), charset="utf-8")
    for unit in units(language):
        for key, source in unit["forms"]:
            entry = entries.get(key)
            text = entry["text"] if entry else files.get(key, "")
            flags = ["python-brace-format"] if "{" in source else []
            if entry and entry["state"] == "borrador":
                flags.append("fuzzy")
            comments = [f"surface: {unit['surface']}"]
            if entry:
                comments.append(f"{entry['state']} ({entry['author']}"
                                + (f", revisado por {entry['reviewer']}" if entry["reviewer"] else "") + ")")
            catalog.add(source, text, flags=flags, auto_comments=comments, context=key)
    out = io.BytesIO()
    write_po(out, catalog, width=0, omit_header=False)
    return out.getvalue()


def import_po(translations: Translations, language: str, data: bytes, author: str,
              audit: dict | None = None) -> dict:
    """Save a PO file's translated entries as borrador. Returns {"accepted": [keys], "unchanged":
    [keys], "refused": [{"key", "code", "message"}], "skipped": n (entries left empty)}.
    Errors: invalid_po (422) when the file is not a PO file."""
    try:
        catalog = read_po(io.BytesIO(data), abort_invalid=True)
    except (PoFileError, UnicodeDecodeError, ValueError) as exc:
        raise invalid("invalid_po", f"El archivo no es un PO válido: {exc}") from None
    items, sources, skipped = [], {}, 0
    for message in catalog:
        if not message.id:  # the header
            continue
        text = message.string if isinstance(message.string, str) else ""
        if not text.strip():
            skipped += 1
            continue
        key = message.context or ""
        items.append((key, text))
        sources[key] = message.id
    report = translations.save_many(language, items, author, audit, sources=sources)
    return {"accepted": report["accepted"], "unchanged": report["unchanged"], "skipped": skipped,
            "refused": [{"key": item["key"], "code": item["error"].code, "message": item["error"].message}
                        for item in report["refused"]]}
