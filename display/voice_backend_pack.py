"""The recorded-pack voice backend: a call joined from the clips of :mod:`display.voice_pack`."""
from __future__ import annotations

import logging
from pathlib import Path

from display import audio
from display.phrases import phrase_text
from display.voice_backend import VoiceBackend, cache_key
from display.voice_pack import Packs

log = logging.getLogger(__name__)


class PackBackend(VoiceBackend):
    name = "pack"

    def __init__(self, voice: dict, scratch_dir: Path):
        super().__init__(voice, scratch_dir)
        self.packs = Packs(voice["pack_dir"])

    def parts(self, code: str, counter: dict, languages: list[str]) -> list[dict]:
        out = []
        for language in languages:
            if not self.packs.has_language(language):
                continue
            brief = CounterBrief(counter)
            plan = self.packs.plan(language, code, brief)
            # Only the Spanish sentence is known as text; another pack's words exist only as audio.
            text = phrase_text("es", code, counter) if language == "es" else None
            # The plan and both manifests decide the sound: a re-recorded pack is a new key.
            key = cache_key("pack", self.packs.fingerprint(language), language, repr(plan),
                            brief.spoken_name or brief.name)
            out.append({"language": language, "text": text, "key": key, "code": code, "counter": brief})
        return out

    def render(self, part: dict) -> audio.Clip:
        clip, _borrowed, missing = self.packs.compose(part["language"], part["code"], part["counter"])
        if missing:
            log.warning("voice pack %s lacks %s", part["language"], ", ".join(missing))
        return clip

    def unspoken(self, languages: list[str]) -> list[str]:
        return [language for language in languages if not self.packs.has_language(language)]

    def problem(self) -> str | None:
        if not self.packs.packs:
            return f"no hay paquetes de voz en {self.voice['pack_dir'] or '(pack_dir vacío)'}"
        return None


class CounterBrief:
    """The counter as the pack composer reads it (``id``, ``name``, ``spoken_name``)."""

    def __init__(self, counter: dict):
        self.id = counter.get("id")
        self.name = counter.get("name") or ""
        self.spoken_name = counter.get("spoken_name") or ""
