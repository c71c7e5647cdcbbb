"""Backups and restores against a careless operator and a full disk (real files, a real server,
a real small tmpfs when root)."""
import io
import os
import shutil
import stat
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import LiveBox, write_sede
from tests.test_cli import turnero
from turnero.engine import Engine
from turnero.store import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_restore_is_refused_while_a_server_holds_the_data_directory(tmp_path):
    box = LiveBox(write_sede(tmp_path / "live")).prepare().start()
    try:
        archive = tmp_path / "b.tar.gz"
        assert turnero("backup", str(archive), "--data-dir", str(box.data_dir)).returncode == 0
        after = box.call("POST", "/tickets", json={"service": "ORI"}, token_name="ana").json()
        refused = turnero("restore", str(archive), "--force", "--data-dir", str(box.data_dir))
        assert refused.returncode == 1 and "server is running" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not list(box.data_dir.glob("*.before-restore-*"))  # nothing was touched
    finally:
        box.stop()
    restarted = LiveBox(box.data_dir).start()
    try:
        kept = restarted.call("GET", f"/tickets/{after['id']}", token_name=None,
                              headers={"Authorization": f"Bearer {box.tokens['ana']}"})
        assert kept.status_code == 200  # the ticket acknowledged after the backup is still there
    finally:
        restarted.stop()
    assert turnero("restore", str(archive), "--force", "--data-dir", str(box.data_dir)).returncode == 0


def _archive_with(tmp_path, engine_dir: Path, settings_text: str | None, name="x.tar.gz", member_mode=0o644):
    archive = tmp_path / name
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(engine_dir / "turnero.db", arcname="turnero.db")
        if settings_text is not None:
            data = settings_text.encode()
            info = tarfile.TarInfo("sede.toml")
            info.size, info.mode = len(data), member_mode
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_a_bad_archive_is_refused_whole_before_anything_changes(tmp_path, engine, data_dir):
    engine.issue("ORI")
    engine.store.close()
    target = write_sede(tmp_path / "target")
    target_store = Store.in_data_dir(target)
    Engine(target_store, engine.settings).issue("PEN")
    target_store.close()  # checkpointed now, not whenever the garbage collector closes it
    before = {name: (target / name).read_bytes() for name in ("turnero.db", "sede.toml")}
    broken = (data_dir / "sede.toml").read_text().replace('timezone = "America/Lima"', 'timezone = "Marte/Olimpo"')
    cases = {
        "does not load": _archive_with(tmp_path, data_dir, broken, "bad-settings.tar.gz"),
        "not a complete Turnero backup": _archive_with(tmp_path, data_dir, None, "no-settings.tar.gz"),
    }
    for problem, archive in cases.items():
        result = turnero("restore", str(archive), "--force", "--data-dir", str(target))
        assert result.returncode == 1 and problem in result.stderr and "nothing was changed" in result.stderr
        assert {name: (target / name).read_bytes() for name in before} == before, problem
        assert not list(target.glob("*.before-restore-*"))
    assert turnero("close-day", "--data-dir", str(target)).returncode == 0  # the box still starts and works


def test_restored_files_and_backups_are_private_whatever_the_archive_says(tmp_path, engine, data_dir):
    engine.issue("ORI")
    archive = tmp_path / "b.tar.gz"
    assert turnero("backup", str(archive), "--data-dir", str(data_dir)).returncode == 0
    assert mode(archive) == 0o600
    loose = _archive_with(tmp_path, data_dir, (data_dir / "sede.toml").read_text(), "loose.tar.gz", member_mode=0o777)
    target = tmp_path / "fresh" / "data"
    result = turnero("restore", str(loose), "--data-dir", str(target))
    assert result.returncode == 0, result.stderr
    assert mode(target) == 0o700
    assert mode(target / "turnero.db") == 0o600 and mode(target / "sede.toml") == 0o600


def test_a_new_data_directory_is_private(tmp_path):
    data = tmp_path / "made-by-hand"
    write_sede(data)  # the sede.toml is the admin's; the directory's contents are the box's
    store = Store.in_data_dir(data / "sub")
    try:
        assert mode(data / "sub") == 0o700 and mode(data / "sub" / "turnero.db") == 0o600
    finally:
        store.close()


def test_old_archives_are_pruned_before_writing_and_leftovers_removed(tmp_path, engine, data_dir):
    engine.issue("ORI")
    dest = tmp_path / "backups"
    dest.mkdir()
    ancient = [dest / f"turnero-2020-01-0{day}.tar.gz" for day in (1, 2)]
    for day, path in enumerate(ancient, start=1):
        path.write_bytes(b"old")
        os.utime(path, (1577836800 + day * 86400,) * 2)
    (dest / "turnero-2026-12-03.tar.gz.partial").write_bytes(b"x" * 1000)
    (dest / ".turnero-backup-abc").mkdir()
    target = dest / "turnero-2026-12-04.tar.gz"
    result = turnero("backup", str(target), "--keep-days", "14", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in dest.iterdir()) == ["turnero-2026-12-04.tar.gz"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 96 MiB tmpfs (root only): a disk that can fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_backup_on_a_nearly_full_disk_refuses_and_the_box_keeps_issuing(small_disk, tmp_path):
    data = write_sede(small_disk / "data")
    store = Store.in_data_dir(data)
    from config import load_settings

    engine = Engine(store, load_settings(data, {}))
    for _ in range(200):
        engine.issue("ORI", document={"type": "DNI", "number": "12345678"}, name="x" * 100)
    ballast = small_disk / "ballast"
    with open(ballast, "wb") as fh:  # leave a little more than the reserve, less than reserve + a backup
        fh.write(b"\0" * (shutil.disk_usage(small_disk).free - 64 * 2**20 - store.size_bytes()))
    backups = small_disk / "backups"
    backups.mkdir()
    (backups / "turnero-old.tar.gz.partial").write_bytes(b"x" * 4096)
    result = turnero("backup", str(backups / "turnero-new.tar.gz"), "--data-dir", str(data))
    assert result.returncode == 1 and "not enough free space" in result.stderr, result.stderr
    assert list(backups.iterdir()) == []  # the failed run's partial is gone, nothing new was left
    assert not list(small_disk.glob("**/.turnero-backup-*"))
    ticket, _ = engine.issue("ORI")  # the reserve is intact: issuing goes on
    assert ticket["status"] == "waiting"
    ballast.unlink()
    result = turnero("backup", str(backups / "turnero-new.tar.gz"), "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    store.close()


def test_restore_refuses_an_archive_that_is_not_a_file(tmp_path):
    result = turnero("restore", str(tmp_path / f"{uuid.uuid4()}.tar.gz"), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1 and "no such backup file" in result.stderr
