"""Recorded voice packs as data: the manifest, what a sede needs from a pack, and the voice
studio's recordings and reviews (issue #13).

Shared by the voice (``display/voice_pack.py`` plays packs) and the voice studio
(``admin/voice_studio.py`` records them), which may not import each other. Reading a manifest
needs no audio library: a clip is "there" when its file is.

A pack recorded in the studio carries a ``studio`` table in its manifest: per clip key, its
``state`` (``borrador`` until a second person marks it ``revisado``), who recorded it and when,
who reviewed it and when. Such a pack is used only once it is ready (:func:`withheld`): no clip
in borrador, the phrase's own words recorded, and nothing the sede needs found in no pack at all
(a letter, digit or counter it lacks is said from the Spanish pack, never made up). A pack
installed by hand (no ``studio`` table) is the operator's own and is used as before.

Every studio change is one transaction with its audit row and bumps ``voice_packs.version`` in
``kv``; the device process checks it at most once a second and re-reads the packs.
The web never runs a command of its choosing or names a file: the sox command line is fixed
here, the folder is ``[voice] pack_dir`` from the box's settings, and a clip's file name is
made from a manifest key the box itself lists (:func:`required_keys`).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import string
import subprocess
import tempfile
import unicodedata
import wave
from contextlib import contextmanager
from pathlib import Path

from turnero.audit import describe, with_details
from turnero.errors import DomainError, conflict, invalid

FORMAT = 1
MANIFEST = "manifest.json"
FALLBACK = "es"
DEFAULT_PHRASE = ["word:turno", "{code}", ",", "{counter}"]
LETTERS = list(string.ascii_lowercase) + ["ñ"]
DIGITS = [str(digit) for digit in range(10)]
STATES = ("borrador", "revisado")
VERSION_KEY = "voice_packs.version"

RATE = 22050  # the packs' rate: espeak-ng's, so a studio clip joins a generated Spanish one as is
MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # ~45 s of 48 kHz mono WAV; a word is 1-2 s
MAX_CLIP_SECONDS = 15.0
CONVERT_TIMEOUT_SECONDS = 8.0
PEAK_DB = -3  # every clip at the same peak, so joined words do not jump in loudness
# sox's own file types by their first bytes; WebM/Opus (Chromium's MediaRecorder) is not one
# sox reads here, so the studio page records WAV itself.
MAGIC = ((b"RIFF", "wav"), (b"OggS", "ogg"), (b"fLaC", "flac"))
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


class PackError(Exception):
    pass


# ----------------------------------------------------------------------------- the manifest

class Manifest:
    """One language's ``manifest.json``: its phrase, clips (key -> file) and studio states."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        try:
            raw = path.read_bytes()
            data = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise PackError(f"{path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("clips"), dict):
            raise PackError(f"{path}: expected format {FORMAT} with a 'clips' table")
        self.data = data
        self.language = data.get("language") or self.folder.name
        self.phrase = data.get("phrase") or DEFAULT_PHRASE
        self.clips = {key: self.folder / name for key, name in data["clips"].items()}
        studio = data.get("studio")
        self.studio = studio if isinstance(studio, dict) else None  # None: installed by hand
        self.fingerprint = hashlib.sha256(raw).hexdigest()[:16]

    def has(self, key: str) -> bool:
        return key in self.clips and self.clips[key].is_file()


def manifests(root) -> tuple[dict, dict]:
    """(language -> Manifest, folder name -> error) of every pack under ``root``."""
    found, errors = {}, {}
    root = Path(root) if root else None
    if root and root.is_dir():
        for folder in sorted(root.iterdir()):
            if (folder / MANIFEST).is_file():
                try:
                    manifest = Manifest(folder)
                except PackError as exc:
                    errors[folder.name] = str(exc)
                    continue
                found[manifest.language] = manifest
    return found, errors


# ------------------------------------------------------------------- what a sede needs of a pack

def code_keys(code: str) -> list[str]:
    """``A-007`` -> letter:a, digit:0, digit:0, digit:7 (codes are said one character at a time)."""
    keys = []
    for char in code.lower():
        if char.isdigit():
            keys.append(f"digit:{char}")
        elif char in LETTERS:
            keys.append(f"letter:{char}")
    return keys


def spoken_words(counter) -> list[str]:
    spoken = counter.spoken_name or counter.name
    keys = []
    for word in re.findall(r"\w+", spoken.lower()):
        if word.isdigit():
            keys.extend(f"digit:{char}" for char in word)
        else:
            keys.append(f"word:{plain(word)}")
    return keys


def plain(word: str) -> str:
    """A file-safe key for a word (accents kept apart from ñ, which is its own letter)."""
    return "".join(char for char in unicodedata.normalize("NFC", word) if char.isalnum())


def required_keys(settings, phrase=None) -> list[str]:
    keys = [token for token in (phrase or DEFAULT_PHRASE) if token not in ("{code}", "{counter}", ",")]
    for service in settings.services.values():
        keys.extend(f"letter:{char}" for char in service.prefix.lower())
    keys.extend(f"digit:{digit}" for digit in DIGITS)
    keys.extend(f"counter:{counter_id}" for counter_id in settings.counters)
    return list(dict.fromkeys(keys))


def check(settings, root, languages) -> dict:
    """What each configured language's pack lacks for this sede.

    Returns ``{language: {"pack": bool, "missing": [...], "from_spanish": [...], "unavailable": [...]}}``:
    ``missing`` is absent from the language's own pack, ``from_spanish`` of those will be said
    in Spanish, ``unavailable`` is in no pack at all (it will be skipped). A studio pack also
    says ``withheld``: why it is not used yet (None once it is).
    """
    packs, errors = manifests(root)
    spanish = packs.get(FALLBACK)
    report = {}
    for language in languages:
        pack = packs.get(language)
        if pack is None:
            report[language] = {"pack": False, "missing": required_keys(settings), "from_spanish": [],
                                "unavailable": [], "error": errors.get(language)}
            continue
        report[language] = {"pack": True, **_lacks(settings, pack, spanish)}
        if pack.studio is not None:
            report[language]["withheld"] = withheld(pack, settings, spanish)
    return report


def _lacks(settings, pack: Manifest, spanish: Manifest | None) -> dict:
    missing = [key for key in required_keys(settings, pack.phrase) if not pack.has(key)]
    from_spanish = [key for key in missing if spanish is not None and spanish.has(key)]
    unavailable = [key for key in missing if key not in from_spanish]
    # A counter with no clip anywhere can still be said word by word from the Spanish pack.
    for counter in settings.counters.values():
        key = f"counter:{counter.id}"
        if key in unavailable and spanish is not None and all(spanish.has(word) for word in spoken_words(counter)):
            unavailable.remove(key)
            from_spanish.append(key)
    return {"missing": missing, "from_spanish": from_spanish, "unavailable": unavailable}


def withheld(pack: Manifest, settings=None, spanish: Manifest | None = None) -> str | None:
    """Why a studio pack is not used yet (None: it is used). A pack installed by hand is always used."""
    if pack.studio is None:
        return None
    if not pack.clips:
        return "empty"
    if any((pack.studio.get(key) or {}).get("state") != "revisado" for key in pack.clips):
        return "borrador"
    own_words = [token for token in pack.phrase if token.startswith("word:")]
    if not all(pack.has(key) for key in own_words):
        return "incomplete"
    if settings is not None and _lacks(settings, pack, spanish)["unavailable"]:
        return "incomplete"
    return None


# --------------------------------------------------------------------------- conversion (sox)

def convert(data: bytes, dest: Path, scratch: Path) -> dict:
    """Convert an upload to a pack clip at ``dest``: 16-bit mono PCM WAV at :data:`RATE`, leading
    and trailing silence trimmed, peak at :data:`PEAK_DB`. Returns {"seconds", "peak"}.
    Errors (422 unless said): upload_too_large (413), not_audio, unsupported_format,
    clip_silent, clip_too_long, conversion_failed, conversion_timeout (503)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DomainError("upload_too_large", f"La grabación pasa de {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: "
                          "grabe solo la palabra.", 413)
    if data[:4] == WEBM_MAGIC:
        raise invalid("unsupported_format", "Este equipo no convierte WebM/Opus: use el botón Grabar del "
                      "estudio (graba en WAV) o suba un archivo WAV, OGG o FLAC.")
    kind = next((name for magic, name in MAGIC if data[:4] == magic), None)
    if kind is None or (kind == "wav" and data[8:12] != b"WAVE"):
        raise invalid("not_audio", "El archivo no es audio WAV, OGG ni FLAC.")
    sox = shutil.which("sox") or "/usr/bin/sox"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as work:
        source, out = Path(work) / f"in.{kind}", Path(work) / "out.wav"
        source.write_bytes(data)
        # Fixed arguments: only box-made paths. silence+reverse twice trims both ends.
        command = [sox, "-V1", str(source), "-b", "16", "-e", "signed-integer", "-c", "1", "-r", str(RATE),
                   str(out), "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse",
                   "norm", str(PEAK_DB)]
        try:
            result = subprocess.run(command, capture_output=True, timeout=CONVERT_TIMEOUT_SECONDS,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DomainError("conversion_timeout", "La conversión de la grabación tardó demasiado; "
                              "grabe de nuevo, más corto.", 503) from None
        except OSError as exc:
            raise DomainError("conversion_failed", f"No se pudo convertir la grabación ({exc}).", 503) from None
        if result.returncode != 0:
            raise invalid("not_audio", "El archivo no se pudo leer como audio: "
                          + result.stderr.decode("utf-8", "replace").strip()[:200])
        with wave.open(str(out), "rb") as wav:
            frames = wav.getnframes()
        seconds = frames / RATE
        if frames < RATE // 20:
            raise invalid("clip_silent", "No se oye nada en la grabación: acérquese al micrófono y grabe de nuevo.")
        if seconds > MAX_CLIP_SECONDS:
            raise invalid("clip_too_long", f"La grabación dura más de {MAX_CLIP_SECONDS:.0f} s: "
                          "grabe solo la palabra.")
        dest.parent.mkdir(parents=True, exist_ok=True)
        temporary = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(out, temporary)
        os.replace(temporary, dest)
    return {"seconds": round(seconds, 2)}


def clip_name(key: str, digest: str) -> str:
    """A clip's file, from a key the box listed: ``words/turno-1a2b3c4d.wav``. The digest makes a
    re-recording a new file, so a reviewed manifest never points at a sound nobody reviewed."""
    kind, _, name = key.partition(":")
    safe = re.sub(r"[^a-z0-9ñ_-]", "_", name.lower())[:40] or "x"
    folder = {"word": "words", "letter": "letters", "digit": "digits", "counter": "counters"}.get(kind, "other")
    return f"{folder}/{safe}-{digest[:8]}.wav"


# ------------------------------------------------------------------------------- the studio

class VoiceStudio:
    """The voice studio's packs, in ``[voice] pack_dir``, with their audit and version in the store."""

    def __init__(self, store, settings, root=None):
        self.store = store
        self.settings = settings
        self.root = Path(root if root is not None else settings.voice["pack_dir"] or "")

    def version(self) -> int | None:
        """The version of the studio's packs; None when it cannot be read now."""
        return pack_version(self.store)

    def folder(self, language: str) -> Path:
        if not re.fullmatch(r"[a-z]{2,3}", language) or language == FALLBACK:
            raise invalid("invalid_language", f"No se graba en {language!r}.")
        if not str(self.root) or str(self.root) == ".":
            raise conflict("no_pack_dir", "Falta [voice] pack_dir en la configuración de la sede: "
                           "pida al técnico que indique la carpeta de los paquetes de voz.")
        return self.root / language

    def manifest(self, language: str) -> Manifest | None:
        folder = self.folder(language)
        try:
            return Manifest(folder) if (folder / MANIFEST).is_file() else None
        except PackError:
            return None

    def items(self, language: str) -> dict:
        """The studio's view of a language: every manifest item with its state, and the pack's use."""
        pack = self.manifest(language)
        spanish = manifests(self.root)[0].get(FALLBACK)
        keys = required_keys(self.settings, pack.phrase if pack else None)
        studio = (pack.studio or {}) if pack else {}
        items = []
        for key in keys:
            entry = studio.get(key) if pack is not None and pack.has(key) else None
            state = entry["state"] if entry else ("revisado" if pack is not None and pack.has(key) else "missing")
            items.append({"key": key, "kind": key.split(":")[0], "state": state, **(entry or {}),
                          "clip": pack.clips[key].name if pack is not None and pack.has(key) else None,
                          "from_spanish": spanish is not None and spanish.has(key)})
        counts = {name: sum(1 for item in items if item["state"] == name)
                  for name in ("revisado", "borrador", "missing")}
        reason = withheld(pack, self.settings, spanish) if pack is not None else "empty"
        if pack is not None and pack.studio is None:
            reason = None
        return {"items": items, "counts": counts, "total": len(items), "withheld": reason,
                "hand_installed": pack is not None and pack.studio is None,
                "phrase": pack.phrase if pack else DEFAULT_PHRASE}

    def clip_path(self, language: str, key: str) -> Path | None:
        pack = self.manifest(language)
        if pack is None or not pack.has(key):
            return None
        path = pack.clips[key].resolve()
        return path if pack.folder.resolve() in path.parents else None

    def record(self, language: str, key: str, data: bytes, author: str, audit: dict | None = None) -> dict:
        """Store a recording of ``key`` as borrador. Errors: those of :func:`convert`, unknown_key (422)."""
        folder = self.folder(language)
        if key not in required_keys(self.settings, self.phrase(language)):
            raise invalid("unknown_key", f"{key!r} no es parte del paquete de voz de esta sede.")
        digest = hashlib.sha256(data).hexdigest()
        name = clip_name(key, digest)
        with self._locked(folder):
            converted = convert(data, folder / name, folder / ".scratch")
            entry = _with_details(audit, author, "voice_pack.record",
                                  {"language": language, "key": key, "seconds": converted["seconds"]})
            with self.store.write(audit=entry) as tx:
                old = self._change(folder, language, lambda data: self._put(data, key, name, author, tx.now))
                tx.bump(VERSION_KEY)
        if old and old != name:
            (folder / old).unlink(missing_ok=True)
        return self.item(language, key)

    def review(self, language: str, keys: list[str] | None, reviewer: str, audit: dict | None = None,
               heard: dict | None = None) -> list[str]:
        """Mark borrador clips revisado: ``keys``, or (None) every borrador recorded by someone else.
        ``heard`` (key -> clip file name) is what the reviewer listened to: a clip recorded again
        since is refused, and with ``keys`` None only clips in it are marked (as a translation's
        review names the text read). Errors: nothing_to_review (404), own_recording,
        already_reviewed, clip_changed (409)."""
        folder = self.folder(language)
        with self._locked(folder):
            pack = self.manifest(language)
            studio = (pack.studio or {}) if pack else {}
            if keys is None:
                keys = [key for key, entry in studio.items()
                        if entry.get("state") == "borrador" and entry.get("author") != reviewer
                        and (heard is None or key in heard)]
                if not keys:
                    raise DomainError("nothing_to_review", "No hay grabaciones de otra persona por revisar.", 404)
            for key in keys:
                entry = studio.get(key)
                if entry is None:
                    raise DomainError("nothing_to_review", f"No hay grabación de {key!r} que revisar.", 404)
                if entry.get("state") == "revisado":
                    raise conflict("already_reviewed", "Esta grabación ya está revisada.")
                if entry.get("author") == reviewer:
                    raise conflict("own_recording", "Otra persona debe revisar su grabación: nadie revisa "
                                   "lo que grabó.")
                if heard is not None and heard.get(key) != pack.clips[key].name:
                    raise conflict("clip_changed", "La grabación cambió desde que la escuchó: escúchela de "
                                   "nuevo antes de revisarla.")
            audit = _with_details(audit, reviewer, "voice_pack.review",
                                  {"language": language, "keys": keys[:50], "count": len(keys)})
            with self.store.write(audit=audit) as tx:
                def mark(data):
                    for key in keys:
                        data["studio"][key].update(state="revisado", reviewer=reviewer, reviewed_at=tx.now)
                self._change(folder, language, mark)
                tx.bump(VERSION_KEY)
        return keys

    def discard(self, language: str, key: str, by: str, audit: dict | None = None) -> bool:
        folder = self.folder(language)
        with self._locked(folder):
            pack = self.manifest(language)
            if pack is None or key not in pack.clips:
                return False
            entry = _with_details(audit, by, "voice_pack.discard", {"language": language, "key": key})
            with self.store.write(audit=entry) as tx:
                def drop(data):
                    data["studio"].pop(key, None)
                    return data["clips"].pop(key, None)
                old = self._change(folder, language, drop)
                tx.bump(VERSION_KEY)
        if old:
            (folder / old).unlink(missing_ok=True)
        return True

    def item(self, language: str, key: str) -> dict:
        return next(item for item in self.items(language)["items"] if item["key"] == key)

    # ----------------------------------------------------------------------- manifest writes

    def phrase(self, language: str) -> list | None:
        """The pack's phrase (None: no pack yet, the default)."""
        pack = self.manifest(language)
        return pack.phrase if pack else None

    @staticmethod
    def _put(data: dict, key: str, name: str, author: str, now: float) -> str | None:
        old = data["clips"].get(key)
        data["clips"][key] = name
        data["studio"][key] = {"state": "borrador", "author": author, "recorded_at": now,
                               "reviewer": None, "reviewed_at": None}
        return old

    @staticmethod
    def _change(folder: Path, language: str, change):
        """Apply ``change`` to the manifest and write it whole (readers never see half a file)."""
        path = folder / MANIFEST
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            data = {"format": FORMAT, "language": language, "source": "grabado en la sede (estudio de voz)",
                    "phrase": DEFAULT_PHRASE, "clips": {}}
        data.setdefault("studio", {})
        result = change(data)
        temporary = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
        return result

    @staticmethod
    @contextmanager
    def _locked(folder: Path):
        """One studio change per pack at a time, across the box's web workers."""
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def pack_version(store) -> int | None:
    """The studio's packs' version; None when it cannot be read now."""
    return store.counter(VERSION_KEY)


def _with_details(audit: dict | None, actor: str, action: str, details: dict) -> dict:
    return with_details(audit or describe(actor, "traductor", action), "voice_pack", details)
