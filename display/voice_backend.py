"""What the :class:`display.voice.Announcer` needs from a voice, and the factory that picks one.

One module per backend, each a subclass of :class:`VoiceBackend`:

- :mod:`display.voice_backend_espeak`: the catalog's sentence spoken by espeak-ng;
- :mod:`display.voice_backend_pack`: recorded clips joined into the phrase.

The announcer keeps the cache, the job queue, the results and the health counters; a backend
only splits a call into parts (one per language it can say) and makes one part's samples. A
part's ``key`` names everything that changes its sound, since it is also the cache file's name.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from display import audio


class VoiceBackend:
    name = ""  # the ``[voice] engine`` value that picks it, and the "engine" of /healthz

    def __init__(self, voice: dict, scratch_dir: Path):
        self.voice = voice  # the [voice] settings
        self.scratch_dir = Path(scratch_dir)  # for files a backend needs while rendering

    def parts(self, code: str, counter: dict, languages: list[str]) -> list[dict]:
        """One part per language this backend can say, in order: at least ``language``,
        ``text`` (shown by the display, may be None) and ``key``; the rest is the backend's own."""
        raise NotImplementedError

    def render(self, part: dict) -> audio.Clip:
        """The part's audio. Raises on failure (SynthesisError, OSError, ValueError)."""
        raise NotImplementedError

    def unspoken(self, languages: list[str]) -> list[str]:
        """The announced languages this backend cannot say (reported in /healthz)."""
        raise NotImplementedError

    def problem(self) -> str | None:
        """Why this backend cannot work at all (a health error), or None."""
        return None

    @property
    def worker_kills(self) -> int:
        """Workers killed on a timeout; only a backend with a worker process has any."""
        return 0

    def close(self) -> None:
        pass


def open_backend(voice: dict, scratch_dir: Path) -> VoiceBackend | None:
    """The backend the ``[voice]`` settings ask for, or None for no voice."""
    kind = voice["engine"] if voice["enabled"] else "none"
    # Imported here: each backend module imports this one, and a sede loads only its own.
    if kind == "espeak":
        from display.voice_backend_espeak import EspeakBackend as backend
    elif kind == "pack":
        from display.voice_backend_pack import PackBackend as backend
    elif kind == "none":
        return None
    else:
        raise ValueError(f"unknown voice engine {kind!r} (expected espeak, pack or none)")
    return backend(voice, scratch_dir)


def cache_key(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]
