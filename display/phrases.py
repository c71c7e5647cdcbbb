"""What a call says, per language: the announced languages, the spelled code and the sentence.

Shared by the announcer, its backends and the voice pack tools. Every word comes from the
language's own catalog (``turnero/locale/<lang>/voice.json``); a language lacking one is not
spoken rather than spoken with invented words.
"""
from __future__ import annotations

from turnero.i18n import catalog


def announced_languages(settings) -> list[str]:
    """``[voice] languages``, else Spanish plus Quechua when the sede lists it."""
    languages = list(settings.voice["languages"]) or \
        ["es"] + (["qu"] if "qu" in settings.sede["languages"] else [])
    return list(dict.fromkeys(languages))


def spoken_code(code: str, language: str) -> str | None:
    """``A-007`` -> "a cero cero siete", from the language's own catalog; None if it lacks a word."""
    texts = catalog(language)
    words = []
    for char in code.lower():
        key = f"voice.digit.{char}" if char.isdigit() else f"voice.letter.{char}" if char.isalpha() else None
        if key is None:
            continue
        if not texts.get(key):
            return None
        words.append(texts[key])
    return " ".join(words)


def has_phrase(language: str) -> bool:
    """Whether the language's catalog has its own call sentence."""
    return bool(catalog(language).get("voice.phrase"))


def phrase_text(language: str, code: str, counter: dict) -> str | None:
    """The sentence to say, or None when the language's catalog lacks the phrase."""
    template = catalog(language).get("voice.phrase")
    code_words = spoken_code(code, language)
    if not template or code_words is None:
        return None
    return template.format(code=code_words, counter=counter.get("spoken_name") or counter.get("name") or "")
