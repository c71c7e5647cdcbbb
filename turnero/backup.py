"""Backups and restores of a data directory, and the lock that keeps a restore off a live box.

A backup is a ``.tar.gz`` of an online SQLite copy plus ``sede.toml`` and the session secret.
It checks free space first (the box must keep issuing tickets whatever the backup does), removes
what failed runs left behind, prunes old archives before writing a new one, and writes files
only the service user can read.

A restore validates the whole archive (database integrity, its migrations, ``sede.toml``) before
touching anything, and refuses while a server holds the data directory: every running server
takes :data:`LOCK_FILE` shared; a restore needs it exclusive. The restored database gets a new
epoch (its identity at the central side, see :mod:`turnero.store`) before it is put in place, so a
restored box never sends events under seq numbers its earlier self already used.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from config import SETTINGS_FILE, ConfigError, load_settings
from turnero import audit
from turnero.store import DB_FILE, Store, integrity_check, make_private_dir

LOCK_FILE = "turnero.lock"
ARCHIVED = (DB_FILE, SETTINGS_FILE, "secret_key")
# Free space left untouched by a backup, so ticket issuing (a few KiB a ticket) goes on for days.
RESERVE_BYTES = int(os.environ.get("TURNERO_BACKUP_RESERVE_MB", "64")) * 1024 * 1024
ARCHIVE_GLOB = "turnero-*.tar.gz"


class BackupError(Exception):
    """Printed as one line by the CLI; nothing was changed."""


# A long backup or restore reports how far it is through an optional ``progress(done, total, stage)``
# (the CLI draws it; this module never prints). ``stage`` is one of these; ``total`` is None when
# unknown (SQLite's integrity check does not tell how far it is).
STAGES = ("copy", "compress", "extract", "check")


class _Reading(io.BufferedReader):
    """A file that tells ``report(bytes read so far)`` as tarfile/gzip read it."""

    def __init__(self, path: Path, report):
        super().__init__(io.FileIO(path, "rb"), buffer_size=1024 * 1024)
        self._report = report

    def read(self, size=-1):
        data = super().read(size)
        self._report(self.tell())
        return data

    def readinto(self, buffer):
        count = super().readinto(buffer)
        self._report(self.tell())
        return count


# ----------------------------------------------------------------- the data directory's lock

def hold_server_lock(data_dir: Path):
    """Held (shared) by a running server for its life; returns the open file that holds it.

    Errors: BackupError when a restore holds the directory."""
    handle = _lock_handle(data_dir)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise BackupError(f"{data_dir}: a restore is running on this data directory") from None
    return handle


def _exclusive(data_dir: Path):
    handle = _lock_handle(data_dir)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise BackupError(f"{data_dir}: a Turnero server is running on this data directory; stop it first "
                          "(systemctl stop turnero) and run the restore again. Nothing was changed.") from None
    return handle


def _lock_handle(data_dir: Path):
    make_private_dir(data_dir)
    descriptor = os.open(Path(data_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    return os.fdopen(descriptor, "r+")


# ----------------------------------------------------------------- backup

def write_backup(store: Store, data_dir: Path, target: Path, force: bool = False, keep_days: int | None = None,
                 entry: dict | None = None, progress=None) -> Path:
    """Write a consistent backup of ``data_dir`` to ``target``; returns it. ``progress(done, total,
    stage)``, when given, hears the copy (pages) and the compression (bytes).

    Errors: BackupError (target exists, not enough free space, a write failed: nothing is left
    behind)."""
    target = Path(target).resolve()
    folder = target.parent
    if target.exists() and not force:
        raise BackupError(f"{target} already exists (use --force to overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    if keep_days is not None:
        prune(folder, keep_days, keep=target)  # before writing: the space is needed now
    needed = 2 * store.size_bytes() + RESERVE_BYTES  # the copy, the archive (at most as big), the reserve
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise BackupError(f"not enough free space in {folder} for a backup: {free // 2**20} MiB free, "
                          f"{needed // 2**20} MiB needed (including {RESERVE_BYTES // 2**20} MiB kept for the "
                          "box). Nothing was written; the box keeps working.")
    scratch = Path(tempfile.mkdtemp(prefix=".turnero-backup-", dir=folder))
    partial = target.with_name(target.name + ".partial")
    try:
        snapshot = scratch / DB_FILE
        store.backup_to(snapshot, None if progress is None else lambda done, total: progress(done, total, "copy"))
        check = integrity_check(snapshot, _ticking(progress))
        if check != "ok":
            raise BackupError(f"the snapshot failed its integrity check: {check}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            if progress is None:
                archive.add(snapshot, arcname=DB_FILE)
            else:  # the same member as add() writes, read through a reader that reports
                size = snapshot.stat().st_size
                info = archive.gettarinfo(snapshot, arcname=DB_FILE)
                with _Reading(snapshot, lambda done: progress(done, size, "compress")) as reader:
                    archive.addfile(info, reader)
            for name in ARCHIVED[1:]:
                if (Path(data_dir) / name).exists():
                    archive.add(Path(data_dir) / name, arcname=name)
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"the backup could not be written ({exc.strerror or exc}); nothing was left behind and "
                          "the box keeps working") from None
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    if keep_days is not None:
        prune(folder, keep_days, keep=target)  # the newest old archive, kept until this one existed
    if entry is not None:
        audit.record(store, {**entry, "target": str(target)})
    return target


def prune(folder: Path, keep_days: int, keep: Path | None = None) -> list[Path]:
    """Delete ``turnero-*.tar.gz`` archives older than ``keep_days`` days, never the newest one."""
    archives = sorted(Path(folder).glob(ARCHIVE_GLOB), key=lambda path: path.stat().st_mtime)
    cutoff = time.time() - keep_days * 86400
    removed = []
    for path in archives[:-1]:
        if path != keep and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _remove_leftovers(folder: Path) -> None:
    """What an interrupted backup left: partial archives and scratch copies."""
    for path in Path(folder).glob("*.partial"):
        path.unlink(missing_ok=True)
    for path in Path(folder).glob(".turnero-backup-*"):
        shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------- restore

def _ticking(progress):
    """For SQLite's integrity check, which does not say how far it is: a tick now and then."""
    if progress is None:
        return None
    ticks = iter(range(1, 2 ** 62))
    return lambda: progress(next(ticks), None, "check")


def restore(data_dir: Path, source: Path, force: bool = False, entry: dict | None = None,
            progress=None) -> None:
    """Put a backup back into ``data_dir``. The current files are kept beside it. ``progress(done,
    total, stage)``, when given, hears the extraction (archive bytes) and the integrity check.

    Errors: BackupError (a server holds the directory, the archive is unreadable, damaged or
    incomplete, or its settings do not load): nothing was changed."""
    data_dir, source = Path(data_dir), Path(source)
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    lock = _exclusive(data_dir)
    try:
        current = data_dir / DB_FILE
        if current.exists() and not force:
            raise BackupError(f"{current} exists; stop the server and add --force to replace it "
                              "(the current files are kept beside it)")
        with tempfile.TemporaryDirectory(prefix=".turnero-restore-", dir=data_dir) as scratch:
            scratch = Path(scratch)
            _extract(source, scratch, progress)
            _validate(source, scratch, progress)
            _renew_identity(scratch, {**(entry or audit.describe("system", "system", "restore")),
                                      "target": str(source)})
            _put_in_place(data_dir, scratch)
    finally:
        lock.close()


def _extract(source: Path, scratch: Path, progress=None) -> None:
    try:
        with contextlib.ExitStack() as opened:
            if progress is None:
                archive = opened.enter_context(tarfile.open(source))
            else:
                size = source.stat().st_size
                reader = opened.enter_context(_Reading(source, lambda done: progress(done, size, "extract")))
                archive = opened.enter_context(tarfile.open(fileobj=reader))
            names = set(archive.getnames())
            missing = [name for name in (DB_FILE, SETTINGS_FILE) if name not in names]
            if missing:
                raise BackupError(f"{source}: not a complete Turnero backup (no {', '.join(missing)} inside); "
                                  "nothing was changed")
            members = [member for member in archive.getmembers() if member.name in ARCHIVED and member.isfile()]
            archive.extractall(scratch, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{source}: unreadable archive ({exc}); nothing was changed") from None


def _validate(source: Path, scratch: Path, progress=None) -> None:
    check = integrity_check(scratch / DB_FILE, _ticking(progress))
    if check != "ok":
        raise BackupError(f"{source}: the database in the backup is damaged ({check}); nothing was changed")
    try:
        load_settings(scratch)
    except ConfigError as exc:
        raise BackupError(f"{source}: its sede.toml does not load ({exc}); nothing was changed") from None
    try:
        Store.in_data_dir(scratch).close()  # its migrations run on the copy, not on the box
    except Exception as exc:  # sqlite3.Error, or a schema this version cannot read
        raise BackupError(f"{source}: the database cannot be opened by this version ({exc}); "
                          "nothing was changed") from None


def _renew_identity(scratch: Path, entry: dict) -> None:
    """A new epoch for the validated copy, recorded with who restored it in its audit trail, before
    it is put in place: the box never runs the restored database under its old identity."""
    store = Store.in_data_dir(scratch)
    try:
        store.renew_epoch(entry)
        store.checkpoint()  # only the database file is put in place
    finally:
        store.close()


def _put_in_place(data_dir: Path, scratch: Path) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("-wal", "-shm"):  # they belong to the replaced database
        stale = data_dir / (DB_FILE + suffix)
        if stale.exists():
            os.replace(stale, data_dir / f"{DB_FILE}{suffix}.before-restore-{stamp}")
    for name in ARCHIVED:
        if not (scratch / name).exists():
            continue
        if (data_dir / name).exists():
            os.replace(data_dir / name, data_dir / f"{name}.before-restore-{stamp}")
        # Modes come from here, never from the archive: private files in a private directory.
        shutil.copyfile(scratch / name, data_dir / name)
        os.chmod(data_dir / name, 0o600)
