"""The `turnero` command, run as a real process."""
import os
import sqlite3
import subprocess
import sys
import tarfile

import requests

from tests.conftest import LiveBox, write_sede
from turnero.accounts import Accounts
from turnero.store import Store


def turnero(*args, stdin=None, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "turnero.cli", *args], input=stdin, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=60)


def test_help_lists_commands():
    result = turnero("--help")
    assert result.returncode == 0
    for command in ("run", "demo", "user", "device", "backup", "close-day", "sync"):
        assert command in result.stdout


def test_user_add_with_password_stdin_and_login(tmp_path):
    data_dir = write_sede(tmp_path / "d")
    result = turnero("user", "add", "carla", "--role", "supervisor", "--password-stdin", "--data-dir",
                     str(data_dir), stdin="una clave larga\n")
    assert result.returncode == 0, result.stderr
    accounts = Accounts(Store.in_data_dir(data_dir))
    assert accounts.login("carla", "una clave larga")["user"]["role"] == "supervisor"  # newline not kept


def test_user_add_errors_are_one_line(tmp_path):
    data_dir = write_sede(tmp_path / "d")
    args = ("user", "add", "carla", "--role", "staff", "--password-stdin", "--data-dir", str(data_dir))
    assert turnero(*args, stdin="una clave larga\n").returncode == 0
    again = turnero(*args, stdin="una clave larga\n")
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0 and "ya existe" in again.stderr
    short = turnero("user", "add", "dani", "--role", "staff", "--password-stdin", "--data-dir", str(data_dir),
                    stdin="corta\n")
    assert short.returncode == 1 and "Traceback" not in short.stderr
    bad_role = turnero("user", "add", "dani", "--role", "jefe", "--password-stdin", "--data-dir", str(data_dir))
    assert bad_role.returncode == 2  # argparse usage error


def test_device_add_prints_token_last_and_it_works(tmp_path):
    data_dir = write_sede(tmp_path / "d")
    result = turnero("device", "add", "pantalla-sala", "--role", "display", "--services", "ORI,PEN",
                     env={"TURNERO_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    principal = Accounts(Store.in_data_dir(data_dir)).authenticate(token, 0)
    assert principal["role"] == "display" and principal["services"] == ["ORI", "PEN"]
    stored = sqlite3.connect(data_dir / "turnero.db").execute("SELECT token_hash FROM devices").fetchone()[0]
    assert token not in stored  # only the hash is kept
    unknown = turnero("device", "add", "p2", "--role", "display", "--services", "XXX", "--data-dir", str(data_dir))
    assert unknown.returncode == 1 and "unknown service" in unknown.stderr


def test_default_data_dir_is_cwd_turnero_data(tmp_path):
    write_sede(tmp_path / "turnero-data")
    env = {k: v for k, v in os.environ.items() if k != "TURNERO_DATA_DIR"}
    result = subprocess.run([sys.executable, "-m", "turnero.cli", "close-day"], capture_output=True, text=True,
                            cwd=tmp_path, env={**env, "PYTHONPATH": os.getcwd()}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "turnero-data" / "turnero.db").exists()


def test_bad_config_stops_with_one_line(tmp_path):
    data_dir = write_sede(tmp_path / "d", **{'prefix = "B"': 'prefix = "A"'})
    result = turnero("run", "--data-dir", str(data_dir), "--port", "1")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "sede.toml" in result.stderr and "prefix" in result.stderr
    missing = turnero("close-day", "--data-dir", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "file not found" in missing.stderr


def test_backup_is_a_consistent_archive(tmp_path, engine, data_dir):
    for _ in range(3):
        engine.issue("ORI")
    target = tmp_path / "backup.tar.gz"
    result = turnero("backup", str(target), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    with tarfile.open(target) as archive:
        assert {"turnero.db", "sede.toml"} <= set(archive.getnames())
        archive.extractall(tmp_path / "restored", filter="data")
    db = sqlite3.connect(tmp_path / "restored" / "turnero.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 3
    again = turnero("backup", str(target), "--data-dir", str(data_dir))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_close_day_while_the_server_runs(tmp_path):
    box = LiveBox(write_sede(tmp_path / "d")).prepare().start()
    try:
        ticket = box.call("POST", "/tickets", json={"service": "ORI"}).json()
        result = turnero("close-day", "--data-dir", str(box.data_dir))
        assert result.returncode == 0 and "1 ticket" in result.stdout
        assert box.call("GET", f"/tickets/{ticket['id']}").json()["status"] == "expired"
        events = box.call("GET", "/events?after=0").json()["events"]
        assert [e["type"] for e in events] == ["ticket.issued", "ticket.expired"]
        assert requests.get(box.url + "/healthz", timeout=5).json()["db"] == "ok"
    finally:
        box.stop()


def test_demo_creates_and_serves_a_sample_sede(tmp_path):
    from tests.conftest import free_port, wait_for

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "turnero.cli", "demo", "--data-dir", str(tmp_path / "demo"),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "health:" in line:
                break
        text = "".join(lines)
        assert "device_token=" in text and "supervisor / supervisor-demo" in text
        assert f"http://127.0.0.1:{port}/admin" in text
        answers = []

        def healthy():
            try:
                answers.append(requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code)
            except requests.RequestException:  # still starting (a busy machine starts slowly)
                return False
            return True

        assert wait_for(healthy, 60) and answers[-1] == 200
        login = requests.post(f"http://127.0.0.1:{port}/api/v1/auth/login",
                              json={"username": "defensor1", "password": "defensor1-demo"}, timeout=5)
        assert login.status_code == 200
        services = requests.get(f"http://127.0.0.1:{port}/api/v1/services", timeout=5,
                                headers={"Authorization": f"Bearer {login.json()['token']}"}).json()["services"]
        assert sum(service["waiting"] for service in services) >= 1  # sample tickets are there
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=15)
    # a second run keeps the sede, its tickets and the device tokens it printed (paired devices stay paired)
    again = subprocess.run([sys.executable, "-c", "from turnero.demo import prepare_demo; from pathlib import Path;"
                            f"print('\\n'.join(prepare_demo(Path({str(tmp_path / 'demo')!r}), '127.0.0.1', {port})))"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    device_lines = [line for line in lines if "device_token=" in line]
    assert len(device_lines) == 2 and all(line in again.stdout for line in device_lines)


def test_restore_of_a_backup_taken_under_load(tmp_path):
    import threading

    box = LiveBox(write_sede(tmp_path / "live")).prepare().start()
    acknowledged, stop = [], threading.Event()

    def kiosk():
        http = requests.Session()
        while not stop.is_set():
            response = http.post(f"{box.url}/api/v1/tickets", json={"service": "ORI"}, timeout=10,
                                 headers={"Authorization": f"Bearer {box.tokens['ana']}"})
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])

    worker = threading.Thread(target=kiosk)
    worker.start()
    try:
        import time

        deadline = time.time() + 30
        while len(acknowledged) < 30 and time.time() < deadline:
            time.sleep(0.02)
        before_backup = list(acknowledged)
        archive = tmp_path / "under-load.tar.gz"
        result = turnero("backup", str(archive), "--data-dir", str(box.data_dir))
        assert result.returncode == 0, result.stderr
    finally:
        stop.set()
        worker.join()
        box.stop()

    target = tmp_path / "restored"
    result = turnero("restore", str(archive), "--data-dir", str(target))
    assert result.returncode == 0, result.stderr
    db = sqlite3.connect(target / "turnero.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM tickets")}
    assert set(before_backup) <= stored
    numbers = [row[0] for row in db.execute("SELECT number FROM tickets ORDER BY number")]
    seqs = [row[0] for row in db.execute("SELECT seq FROM events ORDER BY seq")]
    assert numbers == list(range(1, len(numbers) + 1)) and seqs == list(range(1, len(seqs) + 1))
    db.close()

    restored = LiveBox(target).start()
    try:
        ticket = restored.call("POST", "/tickets", json={"service": "ORI"}, token_name=None,
                               headers={"Authorization": f"Bearer {box.tokens['ana']}"}).json()
        assert ticket["number"] == len(numbers) + 1  # sessions and numbering came back with it
    finally:
        restored.stop()

    refused = turnero("restore", str(archive), "--data-dir", str(target))
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert turnero("restore", str(archive), "--data-dir", str(target), "--force").returncode == 0
    assert list(target.glob("turnero.db.before-restore-*"))


def test_restore_refuses_a_damaged_archive(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar")
    result = turnero("restore", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1 and "unreadable" in result.stderr
    fake_db = tmp_path / "turnero.db"
    fake_db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    archive = tmp_path / "fake.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(fake_db, arcname="turnero.db")
    result = turnero("restore", str(archive), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1 and "nothing was changed" in result.stderr
    assert not (tmp_path / "d" / "turnero.db").exists()


def test_demo_keeps_working_device_tokens_and_replaces_revoked_ones(tmp_path):
    from turnero.demo import prepare_demo, reachable_host

    def tokens(lines):
        return {line.split()[0]: line.rsplit("device_token=", 1)[1] for line in lines if "device_token=" in line}

    first = tokens(prepare_demo(tmp_path / "demo", "127.0.0.1", 8080))
    assert tokens(prepare_demo(tmp_path / "demo", "127.0.0.1", 8080)) == first
    store = Store.in_data_dir(tmp_path / "demo")
    Accounts(store).revoke_device("pantalla-demo")
    store.close()
    third = tokens(prepare_demo(tmp_path / "demo", "127.0.0.1", 8080))
    assert third["kiosk:"] == first["kiosk:"] and third["display:"] != first["display:"]
    assert reachable_host("127.0.0.1") == "127.0.0.1"
    assert reachable_host("0.0.0.0") not in ("0.0.0.0", "")  # a wildcard bind prints an address people can type
