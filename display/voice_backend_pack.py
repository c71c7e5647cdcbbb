"""The recorded-pack voice backend: a call joined from the clips of :mod:`display.voice_pack`.

:class:`PackBackend` is ``[voice] engine = "pack"``. Whatever the engine, :func:`with_recorded_packs`
lets a pack recorded and reviewed in the voice studio say its language (:class:`RecordedFirst`):
a person's voice in Aymara beats no voice, and a reviewed recording beats synthesis. Both re-read
the packs when the studio's version in ``kv`` changes (checked at most once a second), so a
newly reviewed pack is used by the next call with no restart.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from display import audio
from display.phrases import phrase_text
from display.voice_backend import VoiceBackend, cache_key
from display.voice_pack import Packs

log = logging.getLogger(__name__)
CHECK_SECONDS = 1.0  # how stale a review made in a web worker may be here


class PackBackend(VoiceBackend):
    name = "pack"

    def __init__(self, voice: dict, scratch_dir: Path, settings=None, version=None):
        super().__init__(voice, scratch_dir)
        self.attach(settings, version)

    def attach(self, settings, version) -> None:
        """Judge studio packs against the sede (``settings``) and re-read them when ``version()``
        (the studio's version, None: unknown now) changes."""
        self.settings, self._version = settings, version
        self._seen, self._checked = None, float("-inf")
        self._reload_lock = threading.Lock()
        self._packs = Packs(self.voice["pack_dir"], settings)

    @property
    def packs(self) -> Packs:
        now = time.monotonic()
        if self._version is not None and now - self._checked >= CHECK_SECONDS:
            self._checked = now
            version = self._version()
            if version is not None and version != self._seen:
                with self._reload_lock:
                    # Replaced whole: a render under way keeps the Packs it started with.
                    self._packs, self._seen = Packs(self.voice["pack_dir"], self.settings), version
        return self._packs

    def refresh(self) -> None:
        """Check the version on the next call (this process has just changed the packs)."""
        self._checked = float("-inf")

    def parts(self, code: str, counter: dict, languages: list[str]) -> list[dict]:
        out = []
        packs = self.packs
        for language in languages:
            if not packs.has_language(language):
                continue
            brief = CounterBrief(counter)
            plan = packs.plan(language, code, brief)
            # Only the Spanish sentence is known as text; another pack's words exist only as audio.
            text = phrase_text("es", code, counter) if language == "es" else None
            # The plan and both manifests decide the sound: a re-recorded pack is a new key.
            key = cache_key("pack", packs.fingerprint(language), language, repr(plan),
                            brief.spoken_name or brief.name)
            out.append({"language": language, "text": text, "key": key, "code": code, "counter": brief,
                        "packs": packs, "clips": [item for item in plan if item is not None]})
        return out

    def render(self, part: dict) -> audio.Clip:
        packs = part.get("packs") or self.packs
        clip, _borrowed, missing = packs.compose(part["language"], part["code"], part["counter"])
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


class RecordedFirst(VoiceBackend):
    """Another engine (espeak-ng) for most languages; a ready studio pack for its own language."""

    def __init__(self, inner: VoiceBackend, recorded: PackBackend):
        super().__init__(inner.voice, inner.scratch_dir)
        self.inner, self.recorded = inner, recorded
        self.name = inner.name

    def parts(self, code: str, counter: dict, languages: list[str]) -> list[dict]:
        packs, out = self.recorded.packs, []
        for language in languages:
            if packs.recorded(language):
                out.extend(self.recorded.parts(code, counter, [language]))
            else:
                out.extend(self.inner.parts(code, counter, [language]))
        return out

    def render(self, part: dict) -> audio.Clip:
        return self.recorded.render(part) if "packs" in part else self.inner.render(part)

    def unspoken(self, languages: list[str]) -> list[str]:
        packs = self.recorded.packs
        return [language for language in self.inner.unspoken(languages) if not packs.recorded(language)]

    def problem(self) -> str | None:
        return self.inner.problem()

    @property
    def worker_kills(self) -> int:
        return self.inner.worker_kills

    def refresh(self) -> None:
        self.recorded.refresh()

    def __getattr__(self, name):
        # The engine's own attributes (espeak-ng's ``synth``...) stay reachable through the announcer.
        if name in ("inner", "recorded"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        self.inner.close()


def with_recorded_packs(backend: VoiceBackend | None, settings, scratch_dir: Path, version=None):
    """The announcer's backend: ``backend`` with the studio's ready packs in front (None: no voice)."""
    if backend is None:
        return None
    if isinstance(backend, PackBackend):
        backend.attach(settings, version)
        return backend
    recorded = PackBackend(backend.voice, scratch_dir, settings, version)
    return RecordedFirst(backend, recorded)
