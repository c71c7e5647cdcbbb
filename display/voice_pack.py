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

``python -m display.voice_pack generate DIR`` writes the Spanish pack from espeak-ng;
``python -m display.voice_pack check`` lists missing clips for the sede in ``TURNERO_DATA_DIR``.
"""
from __future__ import annotations

import hashlib
import json
import re
import string
import sys
import tempfile
import unicodedata
from pathlib import Path

from display import audio
from display.phrases import announced_languages

FORMAT = 1
MANIFEST = "manifest.json"
FALLBACK = "es"
DEFAULT_PHRASE = ["word:turno", "{code}", ",", "{counter}"]
LETTERS = list(string.ascii_lowercase) + ["ñ"]
DIGITS = [str(digit) for digit in range(10)]


class PackError(Exception):
    pass


class VoicePack:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PackError(f"{path}: {exc}") from None
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("clips"), dict):
            raise PackError(f"{path}: expected format {FORMAT} with a 'clips' table")
        self.language = manifest.get("language") or self.folder.name
        self.phrase = manifest.get("phrase") or DEFAULT_PHRASE
        self.clips = {key: self.folder / name for key, name in manifest["clips"].items()}
        self.fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self._loaded: dict = {}

    def has(self, key: str) -> bool:
        return key in self.clips and self.clips[key].is_file()

    def clip(self, key: str) -> audio.Clip:
        if key not in self._loaded:
            self._loaded[key] = audio.read(self.clips[key])
        return self._loaded[key]


class Packs:
    """Every language pack under ``pack_dir``, with clip-by-clip fallback to Spanish."""

    def __init__(self, root: str | Path):
        self.root = Path(root) if root else None
        self.packs: dict[str, VoicePack] = {}
        self.errors: dict[str, str] = {}
        if self.root and self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if (folder / MANIFEST).is_file():
                    try:
                        pack = VoicePack(folder)
                    except PackError as exc:
                        self.errors[folder.name] = str(exc)
                        continue
                    self.packs[pack.language] = pack

    def has_language(self, language: str) -> bool:
        return language in self.packs

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


def code_keys(code: str) -> list[str]:
    """``A-007`` -> letter:a, digit:0, digit:0, digit:7 (codes are said one character at a time)."""
    keys = []
    for char in code.lower():
        if char.isdigit():
            keys.append(f"digit:{char}")
        elif char in LETTERS:
            keys.append(f"letter:{char}")
    return keys


def _spoken_words(counter) -> list[str]:
    spoken = counter.spoken_name or counter.name
    keys = []
    for word in re.findall(r"\w+", spoken.lower()):
        if word.isdigit():
            keys.extend(f"digit:{char}" for char in word)
        else:
            keys.append(f"word:{_plain(word)}")
    return keys


def _plain(word: str) -> str:
    """A file-safe key for a word (accents kept apart from ñ, which is its own letter)."""
    return "".join(char for char in unicodedata.normalize("NFC", word) if char.isalnum())


def required_keys(settings, phrase=None) -> list[str]:
    keys = [token for token in (phrase or DEFAULT_PHRASE) if token not in ("{code}", "{counter}", ",")]
    for service in settings.services.values():
        keys.extend(f"letter:{char}" for char in service.prefix.lower())
    keys.extend(f"digit:{digit}" for digit in DIGITS)
    keys.extend(f"counter:{counter_id}" for counter_id in settings.counters)
    return list(dict.fromkeys(keys))


def check(settings, root: str | Path, languages) -> dict:
    """What each configured language's pack lacks for this sede.

    Returns ``{language: {"pack": bool, "missing": [...], "from_spanish": [...], "unavailable": [...]}}``:
    ``missing`` is absent from the language's own pack, ``from_spanish`` of those will be said
    in Spanish, ``unavailable`` is in no pack at all (it will be skipped).
    """
    packs = Packs(root)
    spanish = packs.packs.get(FALLBACK)
    report = {}
    for language in languages:
        pack = packs.packs.get(language)
        if pack is None:
            report[language] = {"pack": False, "missing": required_keys(settings), "from_spanish": [],
                                "unavailable": [], "error": packs.errors.get(language)}
            continue
        missing = [key for key in required_keys(settings, pack.phrase) if not pack.has(key)]
        from_spanish = [key for key in missing if spanish is not None and spanish.has(key)]
        unavailable = [key for key in missing if key not in from_spanish]
        # A counter with no clip anywhere can still be said word by word from the Spanish pack.
        for counter in settings.counters.values():
            key = f"counter:{counter.id}"
            if key in unavailable and spanish is not None and all(spanish.has(word)
                                                                  for word in _spoken_words(counter)):
                unavailable.remove(key)
                from_spanish.append(key)
        report[language] = {"pack": True, "missing": missing, "from_spanish": from_spanish,
                            "unavailable": unavailable}
    return report


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
