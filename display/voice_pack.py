"""Recorded voice packs: WAV clips described by a manifest, joined into the spoken phrase.

For languages with no synthetic voice (Aymara, Shipibo-Konibo), or a sede that prefers a human
voice. ``[voice] pack_dir`` holds one folder per language, each with a ``manifest.json``::

    {
      "format": 1,
      "language": "es",
      "source": "who recorded it, or 'espeak-ng es-419 (generated)'",
      "phrase": ["word:turno", "{code}", ",", "{counter}"],
      "clips": {"word:turno": "words/turno.wav", "letter:a": "letters/a.wav",
                "digit:0": "digits/0.wav", "counter:v1": "counters/v1.wav", "word:ventanilla": "..."}
    }

Clip keys name a meaning, not a spelling: ``word:turno`` is "the word for ticket" in the pack's
language; ``letter:<a-z|ñ>`` and ``digit:<0-9>`` spell the code; ``counter:<id>`` is a counter's
spoken name. ``phrase`` lists the order: ``{code}``, ``{counter}``, ``,`` (a pause) or a clip key.
Clips are 16-bit PCM WAV. A clip a language's pack lacks is taken from the Spanish pack
(``es``): nothing is ever made up in another language. :func:`check` lists what each pack lacks.
A pack recorded in the voice studio (``/admin/voz``) also has a ``studio`` table of per-clip
review states, and is used only once reviewed and complete (``turnero/voice_packs.py``).

``python -m display.voice_pack generate DIR`` writes the Spanish pack from espeak-ng;
``python -m display.voice_pack check`` lists missing clips for the sede in ``TURNERO_DATA_DIR``.
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from display import audio
from display.phrases import announced_languages
from turnero.voice_packs import (DEFAULT_PHRASE, DIGITS, FALLBACK, FORMAT, LETTERS, MANIFEST,  # noqa: F401
                                 Manifest, PackError, check, code_keys, plain, required_keys,
                                 spoken_words, withheld)

# The manifest, the keys a sede needs and :func:`check` live in turnero.voice_packs, shared with
# the voice studio (admin/), which may not import this part; the names stay importable from here.
_spoken_words, _plain = spoken_words, plain


class VoicePack(Manifest):
    """A manifest whose clips are read (once each) as audio."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        self._loaded: dict = {}

    def clip(self, key: str) -> audio.Clip:
        if key not in self._loaded:
            self._loaded[key] = audio.read(self.clips[key])
        return self._loaded[key]


class Packs:
    """Every usable language pack under ``pack_dir``, with clip-by-clip fallback to Spanish.

    A pack recorded in the voice studio is used only once ready (:func:`withheld`: reviewed and
    complete for the sede, when ``settings`` is given); until then it is in ``withheld`` with the
    reason, and its language is not spoken from it.
    """

    def __init__(self, root: str | Path, settings=None):
        self.root = Path(root) if root else None
        self.packs: dict[str, VoicePack] = {}
        self.errors: dict[str, str] = {}
        self.withheld: dict[str, str] = {}
        if self.root and self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if (folder / MANIFEST).is_file():
                    try:
                        pack = VoicePack(folder)
                    except PackError as exc:
                        self.errors[folder.name] = str(exc)
                        continue
                    self.packs[pack.language] = pack
        spanish = self.packs.get(FALLBACK)
        for language, pack in list(self.packs.items()):
            reason = withheld(pack, settings, spanish)
            if reason is not None:
                self.withheld[language] = reason
                del self.packs[language]

    def has_language(self, language: str) -> bool:
        return language in self.packs

    def recorded(self, language: str) -> bool:
        """Whether ``language`` has a ready pack recorded in the voice studio."""
        return language in self.packs and self.packs[language].studio is not None

    def plan(self, language: str, code: str, counter) -> list:
        """The clip keys of a phrase, in order (``None`` is a pause)."""
        keys = []
        for token in self.packs[language].phrase:
            if token == "{code}":
                keys.extend(code_keys(code))
            elif token == "{counter}":
                keys.append(f"counter:{counter.id}")
            elif token == ",":
                keys.append(None)
            else:
                keys.append(token)
        return keys

    def fingerprint(self, language: str) -> str:
        own = self.packs[language].fingerprint
        spanish = self.packs[FALLBACK].fingerprint if FALLBACK in self.packs else ""
        return f"{own}-{spanish}"

    def compose(self, language: str, code: str, counter) -> tuple[audio.Clip, list, list]:
        """Join the phrase; returns (clip, keys taken from Spanish, keys found nowhere)."""
        own = self.packs[language]
        spanish = self.packs.get(FALLBACK)
        clips, borrowed, missing = [], [], []
        for key in self.plan(language, code, counter):
            if key is None:
                clips.append(None)
            elif own.has(key):
                clips.append(own.clip(key))
            elif spanish is not None and spanish.has(key):
                clips.append(spanish.clip(key))
                borrowed.append(key)
            elif key.startswith("counter:") and spanish is not None and _spoken_words(counter):
                # No recorded counter name: say its spoken name word by word from the Spanish pack.
                for word_key in _spoken_words(counter):
                    if spanish.has(word_key):
                        clips.append(spanish.clip(word_key))
                        borrowed.append(word_key)
                    else:
                        missing.append(word_key)
            else:
                missing.append(key)
        rate = next((clip.rate for clip in clips if clip is not None), audio.RATE)
        return audio.join(clips, rate), borrowed, missing


def generate_spanish_pack(dest: str | Path, settings, synth, voice: str = "es-419", rate: int = 150) -> Path:
    """Write a Spanish pack synthesized by espeak-ng (through ``synth``, a SynthWorker).

    Texts come from the Spanish voice catalog (``turnero/locale/es/voice.json``), so the pack
    says exactly what the synthesized phrase says.
    """
    from turnero.i18n import catalog

    texts = catalog("es")
    dest = Path(dest)
    wanted = {"word:turno": texts["voice.word.turno"]}
    wanted.update({f"digit:{digit}": texts[f"voice.digit.{digit}"] for digit in DIGITS})
    wanted.update({f"letter:{letter}": texts[f"voice.letter.{letter}"] for letter in LETTERS})
    for counter in settings.counters.values():
        spoken = counter.spoken_name or counter.name
        wanted[f"counter:{counter.id}"] = spoken
        for word in re.findall(r"\w+", spoken.lower()):
            if not word.isdigit():
                wanted[f"word:{_plain(word)}"] = word
    clips = {}
    with tempfile.TemporaryDirectory() as scratch:
        for key, text in wanted.items():
            raw = Path(scratch) / "clip.wav"
            synth.synthesize(text, voice, rate, raw)
            name = key.replace(":", "/") + ".wav"
            audio.write(dest / name, audio.trim(audio.read(raw)))
            clips[key] = name
    manifest = {"format": FORMAT, "language": "es", "source": f"espeak-ng {voice} (generated)",
                "phrase": DEFAULT_PHRASE, "clips": clips}
    (dest / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return dest


def main(argv=None) -> int:
    import argparse
    import os

    from config import load_settings
    from display.voice_synth import SynthWorker

    parser = argparse.ArgumentParser(prog="python -m display.voice_pack", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("TURNERO_DATA_DIR", "turnero-data"))
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write the Spanish pack from espeak-ng into DIR/es")
    generate.add_argument("dir")
    commands.add_parser("check", help="list the clips each configured language lacks")
    args = parser.parse_args(argv)
    settings = load_settings(args.data_dir)
    if args.command == "generate":
        synth = SynthWorker(settings.voice["timeout_seconds"], settings.voice["worker_command"])
        try:
            path = generate_spanish_pack(Path(args.dir) / "es", settings, synth, settings.voice["voice_es"],
                                         settings.voice["rate"])
        finally:
            synth.close()
        print(path)
        return 0
    report = check(settings, settings.voice["pack_dir"], announced_languages(settings))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 1 if any(item["unavailable"] or not item["pack"] for item in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
