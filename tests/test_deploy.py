"""The appliance files: systemd units verify, the backup script backs up and prunes, launchers check input."""
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TURNERO = Path(sys.executable).parent / "turnero"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path):
    # The units name /opt/turnero; point them at this checkout's executables to verify them here.
    bin_dir = tmp_path / "opt"
    bin_dir.mkdir()
    (bin_dir / "turnero").symlink_to(TURNERO)
    shutil.copy(DEPLOY / "backup-rotate.sh", bin_dir / "backup-rotate.sh")
    units = []
    for name in ("turnero.service", "turnero-backup.service", "turnero-backup.timer"):
        text = (DEPLOY / name).read_text()
        text = text.replace("/opt/turnero/venv/bin/turnero", str(bin_dir / "turnero"))
        text = text.replace("/opt/turnero/bin/backup-rotate.sh", str(bin_dir / "backup-rotate.sh"))
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "turnero" in line and "Failed to" not in line]  # no system bus in a container
    assert result.returncode == 0 or not problems, result.stdout + result.stderr
    assert not problems, problems


def test_backup_rotate_writes_an_archive_and_prunes_old_ones(tmp_path, engine, data_dir):
    engine.issue("ORI")
    dest = tmp_path / "backups"
    dest.mkdir()
    old = dest / "turnero-2020-01-01.tar.gz"
    old.write_bytes(b"old")
    past = time.time() - 40 * 86400
    os.utime(old, (past, past))
    env = {**os.environ, "TURNERO_DATA_DIR": str(data_dir), "TURNERO_BACKUP_DIR": str(dest),
           "TURNERO_BACKUP_KEEP_DAYS": "14", "TURNERO_BIN": str(TURNERO)}
    result = subprocess.run(["sh", str(DEPLOY / "backup-rotate.sh")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    archives = sorted(dest.glob("turnero-*.tar.gz"))
    assert old not in archives and len(archives) == 1
    with tarfile.open(archives[0]) as archive:
        assert "turnero.db" in archive.getnames()
    again = subprocess.run(["sh", str(DEPLOY / "backup-rotate.sh")], env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr  # a second run the same day overwrites


def test_kiosk_launcher_checks_its_arguments():
    bad = subprocess.run(["sh", str(DEPLOY / "chromium-kiosk.sh"), "supervisor", "tok"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode == 2 and "kiosk or display" in bad.stderr
    # CHROMIUM=echo prints the command line the launcher would run instead of opening a window.
    env = {**os.environ, "CHROMIUM": "echo", "HOME": "/home/kiosko"}
    paired = subprocess.run(["sh", str(DEPLOY / "chromium-kiosk.sh"), "display", "12345678", "http://10.0.0.5:8080"],
                            capture_output=True, text=True, timeout=30, env=env)
    assert paired.returncode == 0
    # A one-time pairing code, never the device token, on the command line and in the history.
    assert paired.stdout.split()[-1] == "http://10.0.0.5:8080/pair?code=12345678&role=display"
    token = subprocess.run(["sh", str(DEPLOY / "chromium-kiosk.sh"), "display", "tok123"], capture_output=True,
                           text=True, timeout=30, env=env)
    assert token.returncode == 2 and "pairing code" in token.stderr
    assert "--kiosk" in paired.stdout and "--autoplay-policy=no-user-gesture-required" in paired.stdout
    by_code = subprocess.run(["sh", str(DEPLOY / "chromium-kiosk.sh"), "kiosk"], capture_output=True, text=True,
                             timeout=30, env=env)
    assert by_code.returncode == 0 and by_code.stdout.split()[-1] == "http://127.0.0.1:8080/kiosk"


def test_install_script_refuses_without_root():
    if os.geteuid() == 0:
        pytest.skip("running as root: install.sh would really install")
    result = subprocess.run(["sh", str(DEPLOY / "install.sh")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "root" in result.stderr


def _unit_command(unit: str, env: dict) -> list[str]:
    """The unit's ExecStart with systemd's ${VAR} expansion, from its Environment= and the
    EnvironmentFile shipped as /etc/default/turnero."""
    values = {}
    for line in (DEPLOY / "default.turnero").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    values.update(env)
    exec_start = next(line.split("=", 1)[1] for line in (DEPLOY / unit).read_text().splitlines()
                      if line.startswith("ExecStart="))
    words = exec_start.replace("/opt/turnero/venv/bin/turnero", str(TURNERO)).split()
    return [values.get(word[2:-1], word) if word.startswith("${") else word for word in words]


def test_the_service_command_serves_and_stops_on_sigterm(tmp_path):
    """What systemd would run: the unit's ExecStart with the shipped defaults (as far as a machine
    without systemd as PID 1 allows). It serves /healthz and stops cleanly within TimeoutStopSec."""
    import signal

    import requests

    from tests.conftest import free_port, write_sede

    data_dir = write_sede(tmp_path / "data")
    port = free_port()
    command = _unit_command("turnero.service", {"TURNERO_HOST": "127.0.0.1", "TURNERO_PORT": str(port)})
    assert command[1:] == ["run", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "TURNERO_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.time() + 30
        health = None
        while time.time() < deadline and process.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200, process.poll()
        assert health.json()["db"] == "ok"
        stop_seconds = next(int(line.split("=")[1]) for line in (DEPLOY / "turnero.service").read_text()
                            .splitlines() if line.startswith("TimeoutStopSec="))
        process.send_signal(signal.SIGTERM)  # systemd stops the main process with SIGTERM
        assert process.wait(timeout=stop_seconds) == 0, process.stdout.read().decode()[-2000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
