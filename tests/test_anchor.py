"""Tamper evidence that holds (security review, item 8): the audit trail covers every event and,
through them, the attention records; a purge does not break it; deleting its newest rows or
rewriting it consistently shows against the anchor the central receiver keeps. Real SQLite files
tampered with sqlite3, the real `turnero` command, and a real central receiver on 127.0.0.1 on
SQLite and PostgreSQL."""
from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime

import pytest

from central.service import add_sede
from central.testing import CentralServer
from sync.client import Rejected
from tests.conftest import LIMA, SEDE_TOML, write_sede
from tests.test_central import fresh_postgres_url, postgres_server  # noqa: F401 - a fixture, used by name
from tests.test_cli import turnero
from tests.test_sync import SEDE, BoxUnderTest, simulate_day, sync_table
from turnero import audit
from turnero.migrations import MIGRATIONS
from turnero.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def central(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'central.db'}"
    else:
        url = fresh_postgres_url(request.getfixturevalue("postgres_server"))
    server = CentralServer(url).start()
    server.token = add_sede(server.db, SEDE, "Sede de prueba")
    yield server
    server.stop()


@pytest.fixture
def synced_box(tmp_path, clock, central):
    box = BoxUnderTest(write_sede(tmp_path / "box", SEDE_TOML + sync_table(central.url, central.token)), clock)
    yield box
    box.close()


def copy_of(data_dir, target):
    """The data directory as a forger would find it (the box is stopped: one database file)."""
    shutil.copytree(data_dir, target, ignore=shutil.ignore_patterns("*-wal", "*-shm", "*.lock"))
    return target


def tamper(data_dir, *statements):
    conn = sqlite3.connect(data_dir / "turnero.db")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def verify(data_dir) -> tuple[bool, int, str]:
    store = Store.in_data_dir(data_dir)
    try:
        return audit.verify(store)
    finally:
        store.close()


def rechain(data_dir):
    """What someone who knows the format does after an edit: reseal the events and rehash the chain."""
    conn = sqlite3.connect(data_dir / "turnero.db")
    conn.row_factory = sqlite3.Row
    previous = audit.GENESIS
    for raw in conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall():
        row = dict(raw)
        details = json.loads(row["details"])
        if "events_sha256" in details:
            marks = ",".join("?" * len(details["events"]))
            events = [{**dict(e), "data": json.loads(e["data"])} for e in conn.execute(
                f"SELECT seq, id, type, at, data FROM events WHERE seq IN ({marks}) ORDER BY seq", details["events"])]
            details["events_sha256"] = audit.events_digest(events)
            row["details"] = json.dumps(details, sort_keys=True, ensure_ascii=False)
        row["prev_hash"] = previous
        row["hash"] = audit.row_hash(row)
        conn.execute("UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE id = ?",
                     (row["details"], row["prev_hash"], row["hash"], row["id"]))
        previous = row["hash"]
    conn.commit()
    conn.close()


def truncate(data_dir, rows: int):
    """Delete the newest ``rows`` audit rows and every event (and attention record) they cover: what
    is left is a consistent, shorter history."""
    conn = sqlite3.connect(data_dir / "turnero.db")
    keep = conn.execute("SELECT MAX(id) FROM audit_log").fetchone()[0] - rows
    covered = [json.loads(d).get("events", []) for (d,) in conn.execute(
        "SELECT details FROM audit_log WHERE id <= ?", (keep,))]
    last = max((seq for seqs in covered for seq in seqs), default=0)
    conn.execute("DELETE FROM attentions WHERE id IN (SELECT a.id FROM attentions a JOIN events e ON e.at = a.ended_at"
                 " AND json_extract(e.data, '$.attention.ticket_id') = a.ticket_id WHERE e.seq > ?)", (last,))
    conn.execute("DELETE FROM events WHERE seq > ?", (last,))
    conn.execute("DELETE FROM audit_log WHERE id > ?", (keep,))
    conn.commit()
    conn.close()


# --------------------------------------------------------------------------- the box alone

TAMPERING = {
    "an event's data edited": ("UPDATE events SET data = json_set(data, '$.ticket.code', 'A-999') WHERE seq = 5",
                               "edited"),
    "an event's type edited": ("UPDATE events SET type = 'ticket.cancelled' WHERE seq = 7", "edited"),
    "an event's time edited": ("UPDATE events SET at = at - 3600 WHERE seq = 9", "edited"),
    "an event deleted": ("DELETE FROM events WHERE seq = 6", "event 6 is missing"),
    "the newest event deleted": ("DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)", "missing"),
    "an event added": ("INSERT INTO events (id, type, at, data) VALUES ('forged', 'ticket.issued', 1.0, '{}')",
                       "not covered"),
    "the newest audit row deleted": ("DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)",
                                     "not covered"),
    "an attention's wait edited": ("UPDATE attentions SET wait_seconds = 5 WHERE id = 2", "attention record 2 differs"),
    "a no-show turned into an attention": ("UPDATE attentions SET outcome = 'resolved' WHERE outcome = 'no_show'",
                                           "differs"),
    "an attention's counter edited": ("UPDATE attentions SET counter = 'v2' WHERE id = 1", "differs"),
    "an attention's notes edited": ("UPDATE attentions SET notes = 'otra cosa' WHERE id = 1", "differs"),
    "an attention deleted": ("DELETE FROM attentions WHERE id = 3", "missing"),
    "an attention duplicated": ("INSERT INTO attentions (ticket_id, service, counter, staff, priority, issued_at,"
                                " called_at, started_at, ended_at, wait_seconds, service_seconds, outcome) SELECT"
                                " ticket_id, service, counter, staff, priority, issued_at, called_at, started_at,"
                                " ended_at, wait_seconds, service_seconds, outcome FROM attentions WHERE id = 1",
                                "duplicated"),
    "an attention added": ("INSERT INTO attentions (ticket_id, service, issued_at, ended_at, outcome) VALUES "
                           "('forged', 'ORI', 1.0, 2.0, 'resolved')", "has no event"),
}


def test_verify_sees_every_edit_of_events_and_attention_records(engine, clock, data_dir, tmp_path):
    simulate_day(engine, clock)  # engine calls without an audit entry: each gets a system row
    engine.roll_over()
    store = engine.store
    covered = [seq for row in audit.entries(store, 10_000) for seq in row["details"].get("events", [])]
    assert sorted(covered) == list(range(1, engine.last_seq() + 1))  # every event once
    assert {row["actor"] for row in audit.entries(store, 10_000)} == {"system"}
    assert audit.verify(store)[0] is True
    assert store.read_one("SELECT COUNT(*) FROM attentions")[0] >= 8
    store.close()
    for number, (what, (statement, expected)) in enumerate(TAMPERING.items()):
        copy = copy_of(data_dir, tmp_path / f"copy{number}")
        tamper(copy, statement)
        intact, _, detail = verify(copy)
        assert not intact and expected in detail, (what, detail)
        rechain(copy)  # resealing helps only with the events; attention records still disagree
        if "attention" in what:
            assert not verify(copy)[0], what
    assert verify(data_dir) == (True, verify(data_dir)[1], "ok")


def test_the_retention_purge_leaves_the_trail_intact(synced_box, clock):
    box = synced_box
    for day in range(3):
        clock.set(datetime(2026, 11, 21 + day, 9, 0, tzinfo=LIMA))
        simulate_day(box.engine, clock, tickets=6, tag=f"d{day}")
    agent = box.agent()
    agent.push_all()
    agent.close()
    from sync.agent import purge

    clock.set(datetime(2026, 12, 30, 9, 0, tzinfo=LIMA))
    counts = purge(box.engine, {**box.settings.sync, "retention_days": 2})
    assert counts["events"] > 0 and counts["attentions"] > 0
    assert "Nota reservada" not in json.dumps([e["data"] for e in box.events()])
    assert audit.verify(box.store)[0] is True
    box.store.connect().execute("UPDATE events SET data = json_set(data, '$.ticket.code', 'A-999') WHERE seq = 3")
    assert "edited" in audit.verify(box.store)[2]


def test_truncation_and_a_consistent_rewrite_show_against_the_central(synced_box, clock, tmp_path):
    box = synced_box
    simulate_day(box.engine, clock)
    agent = box.agent()
    agent.push_all()
    agent.close()
    box.close()
    agrees = turnero("audit", "verify", "--against-central", "--data-dir", str(box.data_dir))
    assert agrees.returncode == 0, agrees.stderr
    assert "audit trail intact" in agrees.stdout and "agrees with the central side" in agrees.stdout

    shorter = copy_of(box.data_dir, tmp_path / "shorter")
    truncate(shorter, rows=3)
    assert verify(shorter)[0] is True, verify(shorter)  # consistent: the box alone cannot tell
    caught = turnero("audit", "verify", "--against-central", "--data-dir", str(shorter))
    assert caught.returncode == 1 and "newest rows were removed" in caught.stderr, caught.stderr
    assert caught.stderr.count("\n") == 1

    forged = copy_of(box.data_dir, tmp_path / "forged")
    tamper(forged, "UPDATE events SET data = json_set(data, '$.attention.outcome', 'resolved') "
                   "WHERE type = 'ticket.no_show'",
           "UPDATE attentions SET outcome = 'resolved' WHERE outcome = 'no_show'")
    rechain(forged)
    assert verify(forged)[0] is True
    caught = turnero("audit", "verify", "--against-central", "--data-dir", str(forged))
    assert caught.returncode == 1 and "rewritten" in caught.stderr, caught.stderr


def test_the_central_refuses_a_trail_that_went_back(synced_box, clock):
    box = synced_box
    simulate_day(box.engine, clock, tickets=4)
    for _ in range(5):  # logins and the like: rows without events
        audit.record(box.store, audit.describe("ana", "staff", "login", client="127.0.0.1"))
    box.engine.issue("ORI")
    agent = box.agent()
    agent.push_all()
    acked = box.engine.last_seq()
    box.store.close()
    truncate(box.data_dir, rows=6)  # the ticket's row and the five logins, with the ticket's event
    assert verify(box.data_dir)[0] is True
    box.engine.issue("ORI")
    box.engine.issue("PEN")  # past what the central side acknowledged, with a shorter trail
    assert box.engine.last_seq() > acked
    with pytest.raises(Rejected, match="audit_conflict"):
        agent.push_all()
    agent.close()
    caught = turnero("audit", "verify", "--against-central", "--data-dir", str(box.data_dir))
    assert caught.returncode == 1 and "newest rows were removed" in caught.stderr, caught.stderr


def test_against_central_needs_the_sync_settings(data_dir, engine):
    engine.issue("ORI")
    result = turnero("audit", "verify", "--against-central", "--data-dir", str(data_dir))
    assert result.returncode == 1 and "sync is disabled" in result.stderr and result.stderr.count("\n") == 1


def legacy_database(data_dir):
    """A database as the previous version left it (schema 8): events whose audit rows name them
    without sealing them, and a system transaction (the roll-over) with no audit row at all."""
    conn = sqlite3.connect(data_dir / "turnero.db")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (8)")
    for script in MIGRATIONS[:8]:
        for statement in script.split(";\n"):
            if statement.strip():
                conn.execute(statement)
    ticket = {"id": "t1", "public_id": "p1", "code": "A-001", "service": "ORI", "status": "waiting",
              "document": {"type": "DNI", "number": "12345678"}, "name": "Persona Antigua"}
    for seq, kind in ((1, "ticket.issued"), (2, "ticket.expired")):
        conn.execute("INSERT INTO events (seq, id, type, at, data) VALUES (?, ?, ?, ?, ?)",
                     (seq, f"old-{seq}", kind, 1764000000.0 + seq, json.dumps({"ticket": ticket})))
    row = {"id": 1, "at": 1764000001.0, "actor": "ana", "role": "staff", "action": "POST /api/v1/tickets",
           "target": None, "client": "127.0.0.1", "details": json.dumps({"events": [1]}), "prev_hash": audit.GENESIS}
    row["hash"] = audit.row_hash(row)
    conn.execute("INSERT INTO audit_log (id, at, actor, role, action, target, client, details, prev_hash, hash) "
                 "VALUES (:id, :at, :actor, :role, :action, :target, :client, :details, :prev_hash, :hash)", row)
    conn.commit()
    conn.close()


def test_an_upgraded_database_is_covered_from_the_upgrade_on(data_dir, clock):
    from config import load_settings
    from turnero.clock import SedeClock
    from turnero.engine import Engine

    legacy_database(data_dir)
    store = Store.in_data_dir(data_dir)
    engine = Engine(store, load_settings(data_dir, {}), SedeClock(LIMA, clock))
    start = audit.entries(store)[0]
    assert (start["actor"], start["action"], start["details"]["events_from_seq"]) == ("system", "epoch.created", 3)
    assert start["details"]["epoch_created"] == store.epoch()
    simulate_day(engine, clock, tickets=3)
    assert audit.verify(store)[0] is True
    store.connect().execute("UPDATE events SET data = '{}' WHERE seq = 2")  # before the coverage: not seen
    assert audit.verify(store)[0] is True
    store.connect().execute("UPDATE events SET type = 'ticket.cancelled' WHERE seq = 4")
    assert "event 4 differ" in audit.verify(store)[2]
    store.close()
