"""Language packages shared between sedes through the central (SPEC, "Languages"; issue #13).

A sede proposes what it reviewed; the central office approves it; every box pulls the approved
packages and applies them live. This module is the package format, read and written the same way
by the box (build, check, apply) and the central (check, count, compare), so both refuse the
same archives. Plain Python over the store: no HTTP here (that is ``sync/``).

Two kinds:

- ``catalog``: UTF-8 JSON ``{"format": 1, "kind": "catalog", "language", "sede", "version",
  "reviewers": [names], "created_at", "strings": {key: text}}`` with only ``revisado`` strings.
- ``voice``: a zip of a recorded pack's folder: its ``manifest.json`` (with the voice studio's
  ``studio`` table) and the clip files the manifest names, nothing else.

Applying on a box. A catalog's strings become ``revisado`` translations with reviewer
``central``: **the approved central version wins for every key it contains** (a local borrador
or review of such a key is replaced, and the audit row lists the keys it replaced); keys it does
not contain are left alone. A string the box would refuse from a translator (unknown key, other
placeholders than the Spanish source, too long) is skipped, never applied. A voice pack replaces
``[voice] pack_dir/<language>/`` whole, by an atomic exchange of folders, and is marked
``revisado`` by ``central`` clip by clip, the way the voice studio marks a review.
"""
from __future__ import annotations

import ctypes
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from turnero import i18n
from turnero.audit import describe
from turnero.errors import DomainError
from turnero.translations import MAX_TEXT, VERSION_KEY as TRANSLATIONS_VERSION, Translations, placeholders, \
    translatable_keys
from turnero.voice_packs import FORMAT as PACK_FORMAT, MANIFEST, VERSION_KEY as VOICE_VERSION, Manifest, PackError, \
    VoiceStudio, withheld

FORMAT = 1
KINDS = ("catalog", "voice")
LANGUAGE = re.compile(r"[a-z]{2,3}")
MAX_PACKAGE_BYTES = 12 * 1024 * 1024  # below the central's 16 MiB body limit, with the form around it
MAX_ENTRIES = 400  # a pack is ~60 clips and its manifest
MAX_ENTRY_BYTES = 2 * 1024 * 1024  # a studio clip is at most 15 s of 22 kHz mono: ~660 KB
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
CENTRAL = "central"  # who reviewed what arrives approved from the central office
CURSOR_KEY, ERROR_KEY, ERROR_AT_KEY = "languages.cursor", "languages.last_error", "languages.last_error_at"
APPLIED_KEY = "languages.applied"  # JSON {"<language>/<kind>": version} of what this box applied


class PackageError(DomainError):
    """A package that is not what it says (422); ``str()`` is one line for /healthz."""

    def __init__(self, message: str):
        super().__init__("invalid_package", message, 422)


def _now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ catalogs

def build_catalog(translations: Translations, language: str, sede: str) -> tuple[bytes, dict] | None:
    """A catalog package of ``language``'s reviewed strings (None: nothing reviewed yet)."""
    entries = {key: entry for key, entry in translations.entries(language).items() if entry["state"] == "revisado"}
    if not entries:
        return None
    version = str(translations.version() or 0)
    reviewers = sorted({entry["reviewer"] for entry in entries.values() if entry["reviewer"]})
    body = {"format": FORMAT, "kind": "catalog", "language": language, "sede": sede, "version": version,
            "reviewers": reviewers, "created_at": _now_text(),
            "strings": {key: entries[key]["text"] for key in sorted(entries)}}
    data = json.dumps(body, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")
    return data, {"language": language, "kind": "catalog", "version": version, "reviewed_by": reviewers,
                  "items": len(entries)}


def read_catalog(data: bytes, language: str) -> dict:
    """key -> text of a catalog package of ``language``. Errors: :class:`PackageError`."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageError("the catalog package is too large")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PackageError("the catalog package is not UTF-8 JSON") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("kind", "catalog") != "catalog":
        raise PackageError(f"the catalog package is not format {FORMAT}")
    if body.get("language") != language:
        raise PackageError(f"the catalog package is for {body.get('language')!r}, not {language!r}")
    strings = body.get("strings")
    if not isinstance(strings, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in strings.items()):
        raise PackageError("the catalog package's strings must be {key: text}")
    return strings


# --------------------------------------------------------------------------------- voice

def reviewed_pack(root, language: str) -> Manifest | None:
    """The voice studio's pack of ``language`` when every clip is reviewed (None otherwise: a pack
    installed by hand is the operator's own, not the sede's reviewed work)."""
    folder = Path(root or "") / language
    if not str(root or "") or not (folder / MANIFEST).is_file():
        return None
    try:
        pack = Manifest(folder)
    except PackError:
        return None
    if pack.studio is None or withheld(pack) is not None:
        return None
    return pack


def build_voice(root, language: str) -> tuple[bytes, dict] | None:
    pack = reviewed_pack(root, language)
    if pack is None:
        return None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(pack.folder / MANIFEST, MANIFEST)
        for name in sorted(set(pack.data["clips"].values())):
            _member_name(name)  # a manifest edited by hand must not smuggle a path out either
            archive.write(pack.folder / name, name)
    reviewers = sorted({(entry or {}).get("reviewer") for entry in pack.studio.values()} - {None})
    return out.getvalue(), {"language": language, "kind": "voice", "version": pack.fingerprint,
                            "reviewed_by": reviewers, "items": len(pack.clips)}


def _member_name(name) -> PurePosixPath:
    """A safe relative path inside the pack, or PackageError: no absolute path, no ``..``, no
    backslash or drive, nothing hidden (``.lock``, ``.scratch``)."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name or len(name) > 200:
        raise PackageError(f"unsafe path in the voice package: {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") or part.startswith(".") or ":" in part
                                 for part in path.parts):
        raise PackageError(f"unsafe path in the voice package: {name!r}")
    return path


def read_voice(data: bytes, language: str) -> tuple[dict, dict]:
    """(manifest, {relative name: bytes}) of a voice package of ``language``, checked entry by
    entry before anything is written. Errors: :class:`PackageError`."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageError("the voice package is too large")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise PackageError("the voice package is not a zip archive") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise PackageError("the voice package has too many files")
        files, total = {}, 0
        for info in infos:
            path = _member_name(info.filename.rstrip("/") if info.is_dir() else info.filename)
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            if mode and not stat.S_ISREG(mode):  # a symlink (or device) would point outside the pack
                raise PackageError(f"the voice package's {info.filename!r} is not a plain file")
            if info.file_size > MAX_ENTRY_BYTES or str(path) in files:
                raise PackageError(f"the voice package's {info.filename!r} is too large or repeated")
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise PackageError("the voice package unpacks too large")
            try:
                with archive.open(info) as member:  # the declared size is not trusted: read one more byte
                    content = member.read(MAX_ENTRY_BYTES + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise PackageError(f"the voice package's {info.filename!r} cannot be read: {exc}") from None
            if len(content) > MAX_ENTRY_BYTES:
                raise PackageError(f"the voice package's {info.filename!r} is too large")
            files[str(path)] = content
    try:
        manifest = json.loads(files.pop(MANIFEST).decode("utf-8"))
    except KeyError:
        raise PackageError("the voice package has no manifest.json") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PackageError("the voice package's manifest.json is not UTF-8 JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT \
            or not isinstance(manifest.get("clips"), dict):
        raise PackageError(f"the voice package's manifest is not format {PACK_FORMAT} with clips")
    if manifest.get("language", language) != language:
        raise PackageError(f"the voice package is for {manifest.get('language')!r}, not {language!r}")
    for key, name in manifest["clips"].items():
        if not isinstance(key, str) or str(_member_name(name)) not in files:
            raise PackageError(f"the voice package lacks the clip {name!r} of {key!r}")
        if not name.endswith(".wav") or files[str(_member_name(name))][:4] != b"RIFF":
            raise PackageError(f"the voice package's {name!r} is not a WAV file")
    wanted = {str(_member_name(name)) for name in manifest["clips"].values()}
    return manifest, {name: content for name, content in files.items() if name in wanted}


def voice_items(data: bytes, language: str) -> dict:
    """clip key -> file name of a voice package (the central's count and comparison)."""
    return dict(read_voice(data, language)[0]["clips"])


# --------------------------------------------------------------------------------- apply

def apply_catalog(store, language: str, data: bytes, version: int) -> dict:
    """Apply an approved catalog package (see the module docstring for the rule on conflicts).
    Returns {"applied", "replaced", "skipped"} counts. Errors: :class:`PackageError`."""
    strings = read_catalog(data, language)
    if language not in i18n.LANGUAGE_NAMES or language == i18n.DEFAULT:
        raise PackageError(f"this box does not translate into {language!r}")
    offered = translatable_keys(language)
    good, skipped = {}, []
    for key, text in strings.items():
        text = text.strip()
        if key not in offered or not text or len(text) > MAX_TEXT or placeholders(text) != placeholders(offered[key]):
            skipped.append(key)
            continue
        good[key] = text
    replaced, applied = [], []
    audit = describe(CENTRAL, "sistema", "translation.central_apply", target=language)
    with store.write(audit=audit) as tx:
        for key, text in good.items():
            row = tx.one("SELECT text, state, reviewer FROM translations WHERE language = ? AND key = ?",
                         (language, key))
            if row is not None and row["text"] == text and row["state"] == "revisado":
                continue
            if row is not None:
                replaced.append(key)
            tx.execute("INSERT INTO translations (language, key, text, state, author, updated_at, reviewer, "
                       "reviewed_at) VALUES (?, ?, ?, 'revisado', ?, ?, ?, ?) ON CONFLICT(language, key) DO UPDATE "
                       "SET text = excluded.text, state = 'revisado', author = excluded.author, "
                       "updated_at = excluded.updated_at, reviewer = excluded.reviewer, "
                       "reviewed_at = excluded.reviewed_at",
                       (language, key, text, CENTRAL, tx.now, CENTRAL, tx.now))
            applied.append(key)
        audit["details"] = {"translation": {"language": language, "state": "revisado", "central_version": version,
                                            "count": len(applied), "keys": applied[:50], "replaced": replaced[:50],
                                            "skipped": skipped[:50]}}
        if applied:
            tx.bump(TRANSLATIONS_VERSION)
        _record_applied(tx, language, "catalog", version)
    i18n.refresh()
    return {"applied": len(applied), "replaced": len(replaced), "skipped": len(skipped)}


def apply_voice(store, root, language: str, data: bytes, version: int) -> dict:
    """Unpack an approved voice package into ``root/<language>`` atomically. Returns {"clips"}.
    Errors: :class:`PackageError` (nothing written), DomainError no_pack_dir (409)."""
    manifest, files = read_voice(data, language)
    studio = VoiceStudio(store, None, root)
    folder = studio.folder(language)  # refuses Spanish and odd codes, and a box without pack_dir
    folder.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    old_studio = manifest.get("studio") if isinstance(manifest.get("studio"), dict) else {}
    manifest["language"] = language
    manifest["studio"] = {key: {"state": "revisado", "author": (old_studio.get(key) or {}).get("author") or CENTRAL,
                                "recorded_at": (old_studio.get(key) or {}).get("recorded_at") or now,
                                "reviewer": CENTRAL, "reviewed_at": now} for key in manifest["clips"]}
    manifest["central_version"] = version
    incoming = Path(tempfile.mkdtemp(prefix=f".{language}.incoming-", dir=folder.parent))
    try:
        for name, content in files.items():
            target = incoming / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        (incoming / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        audit = describe(CENTRAL, "sistema", "voice_pack.central_apply", target=language,
                         details={"voice_pack": {"language": language, "central_version": version,
                                                 "count": len(manifest["clips"])}})
        with VoiceStudio._locked(folder):  # not while the voice studio writes this pack
            with store.write(audit=audit) as tx:
                _exchange(incoming, folder)
                tx.bump(VOICE_VERSION)
                _record_applied(tx, language, "voice", version)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)  # after an exchange: the previous pack
    return {"clips": len(manifest["clips"])}


def _exchange(incoming: Path, folder: Path) -> None:
    """Put ``incoming`` at ``folder`` in one step: Linux's renameat2(RENAME_EXCHANGE) swaps the two
    folders, so a reader sees the old pack or the new one, never none; the old one ends up at
    ``incoming``. Elsewhere (or a first pack) two renames, with a moment without the folder."""
    if not folder.exists():
        os.rename(incoming, folder)
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.renameat2(-100, os.fsencode(incoming), -100, os.fsencode(folder), 2) == 0:  # AT_FDCWD, EXCHANGE
            return
    except (AttributeError, OSError):
        pass
    aside = incoming.with_name(incoming.name + ".old")
    os.rename(folder, aside)
    os.rename(incoming, folder)
    os.rename(aside, incoming)


def _set(tx, key: str, value) -> None:
    tx.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
               (key, value))


def _record_applied(tx, language: str, kind: str, version: int) -> None:
    row = tx.one("SELECT value FROM kv WHERE key = ?", (APPLIED_KEY,))
    applied = json.loads(row[0]) if row else {}
    applied[f"{language}/{kind}"] = version
    _set(tx, APPLIED_KEY, json.dumps(applied, sort_keys=True))


# ------------------------------------------------------------------------ the pull's state

class LanguageSyncState:
    """The language pull's cursor and last error, in the box's ``kv`` (shared by every process)."""

    def __init__(self, store):
        self.store = store

    def _get(self, key: str):
        return self.store.get_kv(key)

    def cursor(self) -> str | None:
        return self._get(CURSOR_KEY)

    def set_cursor(self, cursor: str | None) -> None:
        with self.store.write() as tx:
            if cursor is None:
                tx.execute("DELETE FROM kv WHERE key = ?", (CURSOR_KEY,))
            else:
                _set(tx, CURSOR_KEY, cursor)

    def record_error(self, message: str, now: float) -> None:
        with self.store.write() as tx:
            _set(tx, ERROR_KEY, message[:500])
            _set(tx, ERROR_AT_KEY, repr(now))

    def clear_error(self) -> None:
        with self.store.write() as tx:
            tx.execute("DELETE FROM kv WHERE key IN (?, ?)", (ERROR_KEY, ERROR_AT_KEY))

    def status(self, clock) -> dict:
        """The language pull's entries of /healthz's sync section (flat, as the admin page lists them):
        what was applied (``{"<language>/<kind>": version}``, None: nothing yet) and the last error."""
        try:
            at = self._get(ERROR_AT_KEY)
            applied = self._get(APPLIED_KEY)
            return {"language_packages_applied": json.loads(applied) if applied else None,
                    "language_packages_error": self._get(ERROR_KEY),
                    "language_packages_error_at": clock.rfc3339(float(at)) if at else None}
        except sqlite3.Error:
            return {"language_packages_applied": None,
                    "language_packages_error": "the box database cannot be read now",
                    "language_packages_error_at": None}
