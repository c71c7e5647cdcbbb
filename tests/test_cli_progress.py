"""Progress bars of the long CLI commands: drawn on stderr when it is a terminal (a real pty here),
absent when the output is piped (cron, CI), which then reads exactly what it read before."""
from __future__ import annotations

import fcntl
import json
import os
import select
import sqlite3
import struct
import subprocess
import sys
import tarfile
import termios
import time

import pytest
from conftest import SEDE_TOML, write_sede
from test_sync import SEDE, central, central_acked, simulate_day, sync_table  # noqa: F401 (central: the real receiver, a fixture)

from central.service import add_sede

from config import load_settings
from turnero.engine import Engine
from turnero.store import Store

TURNERO = [sys.executable, "-m", "turnero.cli"]
CENTRAL = [sys.executable, "-m", "central.cli"]


def on_terminal(command: list[str], timeout: float = 120) -> tuple[int, str, str]:
    """Run ``command`` with stderr on a pseudo-terminal (stdout piped): (status, stdout, terminal)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                               env=os.environ.copy())
    os.close(slave)
    seen = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the command closed the terminal (it exited)
                break
            if not data:
                break
            seen.append(data)
    finally:
        os.close(master)
    stdout = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=30), stdout, b"".join(seen).decode(errors="replace")


def piped(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def dump(path) -> list[str]:
    database = sqlite3.connect(path)
    try:
        return list(database.iterdump())
    finally:
        database.close()


def archived_database(archive_path, into) -> list[str]:
    with tarfile.open(archive_path) as archive:
        archive.extract("turnero.db", into, filter="data")
    return dump(into / "turnero.db")


def rows(path, table: str) -> list[tuple]:
    database = sqlite3.connect(path)
    try:
        return database.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    finally:
        database.close()


@pytest.fixture
def busy_box(tmp_path):
    data_dir = write_sede(tmp_path / "box")
    store = Store.in_data_dir(data_dir)
    simulate_day(Engine(store, load_settings(data_dir, {})), tickets=20)
    store.close()
    return data_dir


def test_backup_and_restore_show_progress_on_a_terminal_and_keep_the_data(busy_box, tmp_path):
    source = busy_box / "turnero.db"
    before = dump(source)
    target = tmp_path / "copias" / "turnero-terminal.tar.gz"
    status, stdout, terminal = on_terminal([*TURNERO, "backup", str(target), "--data-dir", str(busy_box)])
    assert status == 0, terminal
    assert stdout == f"backup written to {target}\n"  # the message itself is unchanged
    assert "Copiando la base de datos" in terminal and "Comprimiendo el archivo" in terminal
    assert "100%" in terminal
    assert archived_database(target, tmp_path / "terminal") == before

    # Piped, as from the backup timer: not a byte of progress, the same one line as always.
    before = dump(source)
    quiet_target = tmp_path / "copias" / "turnero-piped.tar.gz"
    result = piped([*TURNERO, "backup", str(quiet_target), "--data-dir", str(busy_box)])
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"backup written to {quiet_target.resolve()}\n"
    assert archived_database(quiet_target, tmp_path / "piped") == before

    restored = tmp_path / "restored-terminal"
    status, stdout, terminal = on_terminal([*TURNERO, "restore", str(target), "--data-dir", str(restored)])
    assert status == 0, terminal
    assert stdout == f"restored {target} into {restored}\n"
    assert "Extrayendo la copia de seguridad" in terminal and "100%" in terminal
    assert "Verificando la base de datos" in terminal

    quiet = tmp_path / "restored-piped"
    result = piped([*TURNERO, "restore", str(quiet_target), "--data-dir", str(quiet)])
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"restored {quiet_target} into {quiet}\n"
    for table in ("tickets", "events", "attentions"):
        assert rows(restored / "turnero.db", table) == rows(quiet / "turnero.db", table) == rows(source, table)


def test_a_failed_backup_on_a_terminal_still_says_one_line(busy_box, tmp_path):
    target = tmp_path / "turnero-x.tar.gz"
    target.write_bytes(b"already here")
    status, stdout, terminal = on_terminal([*TURNERO, "backup", str(target), "--data-dir", str(busy_box)])
    assert status == 1 and stdout == ""
    assert "already exists" in terminal and "Traceback" not in terminal


def test_step_by_step_copy_is_one_snapshot_while_the_box_writes(busy_box, tmp_path):
    """The copy with progress goes a page at a time; tickets issued meanwhile (another connection,
    as the server's) neither restart it nor get half into it."""
    store = Store.in_data_dir(busy_box)
    writer = sqlite3.connect(busy_box / "turnero.db", isolation_level=None)
    before = dump(busy_box / "turnero.db")
    calls = []

    def progress(done, total):
        calls.append((done, total))
        assert len(calls) < 10 * total, "the copy keeps restarting"
        writer.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (f"durante-{len(calls)}", "x"))

    try:
        store.backup_to(tmp_path / "copy.db", progress=progress, pages=1)
    finally:
        writer.close()
        store.close()
    total = calls[-1][1]
    assert total > 10 and calls[-1][0] == total
    assert [done for done, _ in calls] == list(range(1, total + 1))  # never went back
    assert dump(tmp_path / "copy.db") == before
    assert len(rows(busy_box / "turnero.db", "kv")) == len(rows(tmp_path / "copy.db", "kv")) + len(calls)


def test_sync_once_shows_the_backlog_going_out_on_a_terminal_only(central, tmp_path):
    data_dir = write_sede(tmp_path / "box", SEDE_TOML + sync_table(central.url, central.token, batch_size=20))
    store = Store.in_data_dir(data_dir)
    engine = Engine(store, load_settings(data_dir, {}))
    simulate_day(engine, tickets=12)
    last = engine.last_seq()
    assert last > 40
    status, stdout, terminal = on_terminal([*TURNERO, "sync", "--once", "--data-dir", str(data_dir)])
    assert status == 0, terminal
    assert stdout.startswith(f"sync ok: {last} event(s) acknowledged") and stdout.endswith("backlog 0\n")
    assert "Enviando eventos a la central" in terminal and f"{last}/{last} eventos" in terminal
    assert central_acked(central) == last

    simulate_day(engine, tickets=3, tag="b")
    result = piped([*TURNERO, "sync", "--once", "--data-dir", str(data_dir)])
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith(f"sync ok: {engine.last_seq() - last} event(s) acknowledged")
    # Nothing pending: no bar on a terminal either.
    status, stdout, terminal = on_terminal([*TURNERO, "sync", "--once", "--data-dir", str(data_dir)])
    assert status == 0 and "Enviando" not in terminal
    store.close()


def test_central_appointment_import_shows_progress_on_a_terminal_only(tmp_path):
    from central.db import Database

    url = f"sqlite:///{tmp_path / 'central.db'}"
    db = Database(url)
    db.create_schema()
    add_sede(db, SEDE, "Sede de prueba")
    db.close()
    appointments = [{"id": f"c{i}", "service": "ORI", "starts_at": "2026-11-25T09:00:00-05:00"} for i in range(30)]
    (tmp_path / "citas.json").write_text(json.dumps({"appointments": appointments}), encoding="utf-8")
    command = [*CENTRAL, "appointments", "import", str(tmp_path / "citas.json"), "--sede", SEDE,
               "--database-url", url]
    status, stdout, terminal = on_terminal(command)
    assert status == 0, terminal
    assert stdout == f"30 appointment(s) stored for sede {SEDE}\n"
    assert "Importando citas" in terminal and "30/30 citas" in terminal
    result = piped(command)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"30 appointment(s) stored for sede {SEDE}\n"
