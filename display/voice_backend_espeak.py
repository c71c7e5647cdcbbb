"""The espeak-ng voice backend: the catalog's sentence, synthesized in the isolated worker process."""
from __future__ import annotations

import shutil
from pathlib import Path

from display import audio
from display.phrases import has_phrase, phrase_text
from display.voice_backend import VoiceBackend, cache_key
from display.voice_synth import SynthWorker


class EspeakBackend(VoiceBackend):
    name = "espeak"

    def __init__(self, voice: dict, scratch_dir: Path):
        super().__init__(voice, scratch_dir)
        # Cheap: the worker process starts with the first phrase.
        self.synth = SynthWorker(voice["timeout_seconds"], voice["worker_command"])

    def parts(self, code: str, counter: dict, languages: list[str]) -> list[dict]:
        out = []
        for language in languages:
            text = phrase_text(language, code, counter)
            if text is None:
                continue
            voice = self.voice.get(f"voice_{language}") or language
            key = cache_key("espeak", voice, self.voice["rate"], text)
            out.append({"language": language, "text": text, "key": key, "voice": voice})
        return out

    def render(self, part: dict) -> audio.Clip:
        # The worker is another process, so it can only hand its samples over in a file.
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        scratch = self.scratch_dir / f".{part['key']}.raw.wav"
        try:
            self.synth.synthesize(part["text"], part["voice"], self.voice["rate"], scratch, trim_ms=120)
            return audio.read(scratch)
        finally:
            scratch.unlink(missing_ok=True)

    def unspoken(self, languages: list[str]) -> list[str]:
        return [language for language in languages if not has_phrase(language)]

    def problem(self) -> str | None:
        if not self.voice["worker_command"] and shutil.which("espeak-ng") is None:
            return "espeak-ng no está instalado"
        return None

    @property
    def worker_kills(self) -> int:
        return self.synth.kills

    def close(self) -> None:
        self.synth.close()
