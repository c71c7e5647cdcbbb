"""The audit trail: every staff and admin action, with who, what, when and from where; tampering shows."""
import sqlite3
import subprocess
import sys

from tests.conftest import PASSWORD
from turnero import audit


def rows(app):
    return list(reversed(audit.entries(app.extensions["turnero"].store)))


def test_actions_are_recorded_atomically_with_their_events(app, api, tokens):
    ticket = api.post("/tickets", {"service": "ORI"}).json
    api.post("/counters/v1/call-next")
    api.post(f"/tickets/{ticket['id']}/finish", {"outcome": "resolved"})  # 409: rolled back, not recorded
    trail = rows(app)
    assert [row["action"] for row in trail] == ["POST /api/v1/tickets", "POST /api/v1/counters/v1/call-next"]
    assert trail[0]["actor"] == "ana" and trail[0]["role"] == "staff"
    assert trail[1]["target"] == "v1" and trail[1]["client"].startswith("127.0.0.1")
    assert trail[1]["details"]["events"] == [2, 3]  # counter.opened and ticket.called, same transaction


def test_logins_and_refusals_are_recorded(app):
    client = app.test_client()
    client.post("/api/v1/auth/login", json={"username": "nadie", "password": "x"})
    box = app.extensions["turnero"]
    box.accounts.add_user("lucia", "staff", PASSWORD)
    client.post("/api/v1/auth/login", json={"username": "lucia", "password": PASSWORD})
    actions = [(row["actor"], row["action"]) for row in rows(app)]
    assert ("nadie", "login_failed") in actions and ("lucia", "login") in actions


def test_a_failed_request_does_not_leak_its_entry_to_the_next(app, api):
    assert api.post("/tickets", {"service": "XXX"}).status_code == 422  # described, never written
    app.test_client().get("/healthz")  # writes a heartbeat on the same thread
    assert rows(app) == []


def test_verify_detects_tampering(app, api, data_dir):
    for _ in range(3):
        api.post("/tickets", {"service": "ORI"})
    store = app.extensions["turnero"].store
    assert audit.verify(store) == (True, 3, "ok")
    cli = [sys.executable, "-m", "turnero.cli", "audit", "verify", "--data-dir", str(data_dir)]
    assert subprocess.run(cli, capture_output=True, text=True, timeout=60).returncode == 0

    db = sqlite3.connect(data_dir / "turnero.db")
    db.execute("UPDATE audit_log SET actor = 'beto' WHERE id = 2")
    db.commit()
    assert audit.verify(store)[0] is False and "row 2 was altered" in audit.verify(store)[2]
    broken = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1 and "altered" in broken.stderr

    db.execute("UPDATE audit_log SET actor = 'ana' WHERE id = 2")
    db.execute("DELETE FROM audit_log WHERE id = 2")
    db.commit()
    assert "missing" in audit.verify(store)[2]


def test_cli_actions_are_recorded(data_dir, tmp_path):
    def run(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "turnero.cli", *args, "--data-dir", str(data_dir)],
                              input=stdin, capture_output=True, text=True, timeout=60)

    assert run("user", "add", "marta", "--role", "admin", "--password-stdin", stdin="clave larga 1\n").returncode == 0
    assert run("device", "add", "kiosco-9", "--role", "kiosk").returncode == 0
    assert run("backup", str(tmp_path / "b.tar.gz")).returncode == 0
    listing = run("audit", "list")
    assert listing.returncode == 0
    assert "cli user add marta" in listing.stdout and "cli device add kiosco-9" in listing.stdout
    assert "cli backup" in listing.stdout
    assert "clave larga" not in listing.stdout


def test_the_audit_entry_goes_only_to_the_write_it_is_handed_to(app):
    box = app.extensions["turnero"]
    entry = audit.describe("ana", "staff", "POST /api/v1/tickets", client="127.0.0.1")
    with app.test_request_context("/api/v1/tickets", method="POST"):
        box.store.check_writable()  # an earlier write of the same request (a heartbeat) takes nothing
        box.engine.issue("ORI", audit=entry)
    trail = rows(app)
    assert len(trail) == 1 and trail[0]["actor"] == "ana"
    assert trail[0]["details"]["events"] == [1]  # the ticket.issued of the write it was handed to
