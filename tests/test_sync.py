"""The sync agent against a real central receiver on 127.0.0.1, with a fault-injecting proxy in
between. In every scenario the central side ends with exactly the box's events, in order, once."""
from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from datetime import datetime

import pytest
from conftest import LIMA, SEDE_TOML, LiveBox, write_sede

from central.service import add_sede, import_appointments
from central.testing import CentralServer, FaultProxy
from config import load_settings
from sync import SettingsFollower
from sync.agent import SyncAgent, purge
from turnero.sync_state import SyncState, status
from sync.worker import SyncWorker
from turnero.clock import SedeClock
from turnero.engine import Engine
from turnero.stats import compute_stats
from turnero.store import Store

SEDE = "TEST-01"


def sync_table(url: str, token: str, **options) -> str:
    lines = ["", "[sync]", f'central_url = "{url}"', f'token = "{token}"']
    options.setdefault("backoff_base_seconds", 0.05)
    for key, value in options.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


class BoxUnderTest:
    def __init__(self, data_dir, clock=None):
        self.data_dir = data_dir
        self.settings = load_settings(data_dir, {})
        self.store = Store.in_data_dir(data_dir)
        self.engine = Engine(self.store, self.settings, SedeClock(self.settings.timezone, clock or time.time))
        self.workers = []

    def worker(self, gather_seconds=0.05) -> SyncWorker:
        worker = SyncWorker(self.engine, SettingsFollower(self.settings, {}), poll_seconds=0.1,
                            gather_seconds=gather_seconds)
        self.workers.append(worker)
        worker.start()
        return worker

    def agent(self) -> SyncAgent:
        return SyncAgent(self.engine, load_settings(self.data_dir, {}).sync)

    def health(self) -> dict:
        return status(self.engine, load_settings(self.data_dir, {}).sync)

    def events(self) -> list[dict]:
        return [self.engine.views.event(e) for e in self.engine.events_after(0, 10 ** 7)]

    def close(self):
        for worker in self.workers:
            worker.stop()
        self.store.close()


@pytest.fixture
def central(tmp_path):
    server = CentralServer(f"sqlite:///{tmp_path / 'central.db'}").start()
    server.token = add_sede(server.db, SEDE, "Sede de prueba")
    yield server
    server.stop()


@pytest.fixture
def proxy(central):
    with FaultProxy(central.url) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def make_box(tmp_path, clock):
    made = []

    def make(url: str, token: str, fake_clock=True, **options):
        data_dir = write_sede(tmp_path / f"box{len(made)}", SEDE_TOML + sync_table(url, token, **options))
        box = BoxUnderTest(data_dir, clock if fake_clock else None)
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()


def wait_until(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def central_acked(central) -> int:
    row = central.db.one("SELECT acked_seq FROM sedes WHERE code = ?", (SEDE,))
    return row[0]


def assert_central_holds_exactly(central, box_events: list[dict]):
    rows = central.db.all("SELECT seq, id, type, at, data FROM events WHERE sede = ? ORDER BY seq", (SEDE,))
    assert [(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows] == \
        [(e["seq"], e["id"], e["type"], e["at"], e["data"]) for e in box_events]
    received, acked = central.db.one("SELECT events_received, acked_seq FROM sedes WHERE code = ?", (SEDE,))
    assert received == len(box_events) == acked  # inserted once each: none twice


def simulate_day(engine, clock=None, tickets=12, tag=""):
    """A day at a sede: walk-ins with documents and names, calls, attentions with notes and case
    numbers, a survey answer, a transfer, no-shows and a cancellation."""
    def tick(seconds):
        if clock is not None:
            clock.advance(seconds)

    for i in range(tickets):
        engine.issue("PEN" if i % 3 == 0 else "ORI", priority="adulto_mayor" if i % 5 == 0 else None,
                     document={"type": "DNI", "number": f"{40000000 + i:08d}"}, name=f"Persona {tag}{i}",
                     channel="staff")
        tick(45)
    extra, _ = engine.issue("ORI", document={"type": "CE", "number": "CE1234567"}, name="Se retira", channel="staff")
    engine.cancel(extra["id"], "ana", reason="La señora Pérez se retiró")
    for i in range(tickets):
        ticket = engine.call_next("v1", "ana")
        if ticket is None:
            break
        tick(20)
        if i % 6 == 5:
            engine.no_show(ticket["id"], "ana")
            continue
        engine.start(ticket["id"], "ana")
        tick(240)
        if i == 3:
            engine.transfer(ticket["id"], "VIC", "ana", notes="Derivada: violencia familiar")
            continue
        engine.finish(ticket["id"], "ana", "resolved", result="PEN-01" if ticket["service"] == "PEN" else None,
                      case_ref=f"EXP-{tag}{i}", notes=f"Nota reservada {tag}{i}")
        if i == 0:  # the survey's answer travels like every event; its comment may name someone
            engine.rate(ticket["public_id"], 4, f"Gracias a la señora Pérez {tag}")
    engine.close_counter("v1", "ana")


PERSONAL_WORDS = ("Persona", "Nota reservada", "EXP-", "4000000", "Pérez", "Se retira", "CE1234567", "violencia")


def posts(proxy) -> list[dict]:
    return [entry for entry in proxy.log if entry["method"] == "POST"]


# --------------------------------------------------------------------------- scenarios

def test_normal_day_goes_out_soon_after_commits_in_batches(central, proxy, make_box, clock):
    box = make_box(proxy.url, central.token)
    box.worker(gather_seconds=0.3)  # the worker's own default
    wait_until(lambda: any(e["method"] == "GET" for e in proxy.log), what="the first appointment pull")
    simulate_day(box.engine, clock)
    last = box.engine.last_seq()
    wait_until(lambda: box.health()["backlog"] == 0 and central_acked(central) == last, what="sync")
    assert_central_holds_exactly(central, box.events())
    assert len(posts(proxy)) < last  # commits are gathered into batches, not sent one by one
    health = box.health()
    assert health["state"] == "ok" and health["last_success"] and health["oldest_unsynced_age_seconds"] is None
    # Events written after the first wave go out too (the worker listens and polls).
    simulate_day(box.engine, clock, tickets=3, tag="b")
    wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="second wave")
    assert_central_holds_exactly(central, box.events())


def test_central_down_for_a_while(central, proxy, make_box, clock):
    proxy.down()
    box = make_box(proxy.url, central.token)
    box.worker()
    simulate_day(box.engine, clock)
    wait_until(lambda: box.health()["state"] == "retrying", what="retrying")
    health = box.health()
    assert health["backlog"] == box.engine.last_seq() and "cannot reach central" in health["last_error"]
    assert health["oldest_unsynced_age_seconds"] > 0
    assert central_acked(central) == 0
    simulate_day(box.engine, clock, tickets=4, tag="b")  # the sede keeps working meanwhile
    proxy.up()
    wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="catch-up")
    assert_central_holds_exactly(central, box.events())
    wait_until(lambda: box.health()["state"] == "ok", what="state ok")


def test_500_429_and_timeouts_are_retried_honoring_retry_after(central, proxy, make_box, clock, caplog):
    caplog.set_level(logging.DEBUG)
    box = make_box(proxy.url, central.token, timeout_seconds=0.5, batch_size=20)
    simulate_day(box.engine, clock)
    proxy.script("500", "429:1", "hang:1.5", "503")
    box.worker()
    wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="sync through faults")
    assert_central_holds_exactly(central, box.events())
    faults = [entry["fault"] for entry in proxy.log]
    assert faults[:4] == ["500", "429:1", "hang:1.5", "503"]
    assert proxy.log[2]["at"] - proxy.log[1]["at"] >= 1.0  # Retry-After: 1 was honored
    assert all(entry["events"] is None or entry["events"] <= 20 for entry in proxy.log)
    assert central.token not in caplog.text
    assert box.health()["state"] == "ok"


def test_connection_dropped_after_storing_is_resent_and_kept_once(central, proxy, make_box, clock):
    box = make_box(proxy.url, central.token, batch_size=25)
    simulate_day(box.engine, clock)
    proxy.script("drop_after", "drop_after")
    box.worker()
    wait_until(lambda: box.health()["backlog"] == 0, what="sync")
    dropped = [entry for entry in proxy.log if entry["fault"] == "drop_after"]
    assert len(dropped) == 2
    assert_central_holds_exactly(central, box.events())
    # The first batch reached the receiver twice (stored once); its second copy is what the box re-sent.
    assert sum(1 for entry in posts(proxy)) >= math.ceil(box.engine.last_seq() / 25) + 2


def test_box_restart_in_the_middle_of_a_batch(central, proxy, tmp_path):
    data_dir = write_sede(tmp_path / "live", SEDE_TOML + sync_table(proxy.url, central.token, batch_size=20,
                                                                     timeout_seconds=60))
    settings = load_settings(data_dir, {})
    store = Store.in_data_dir(data_dir)
    simulate_day(Engine(store, settings))
    store.close()
    proxy.script("stall_after:60")
    box = LiveBox(data_dir).prepare()
    try:
        box.start()
        # The receiver stored the first batch; the answer is held back. Kill the box right now.
        wait_until(lambda: central_acked(central) >= 20, what="first batch stored")
        box.kill(9)
        database = sqlite3.connect(data_dir / "turnero.db")
        assert database.execute("SELECT acked_seq FROM sync_state").fetchone()[0] == 0
        database.close()
        box.start()
        store = Store.in_data_dir(data_dir)
        engine = Engine(store, load_settings(data_dir, {}))
        wait_until(lambda: central_acked(central) == engine.last_seq() and
                   SyncState(store).acked_seq() == engine.last_seq(), timeout=60, what="sync after restart")
        assert_central_holds_exactly(central, [engine.views.event(e) for e in engine.events_after(0, 10 ** 6)])
        store.close()
    finally:
        box.stop()


def test_a_week_of_backlog(central, proxy, make_box, clock):
    box = make_box(proxy.url, central.token, batch_size=100)
    for day in range(7):
        clock.set(datetime(2026, 11, 16 + day, 9, 0, tzinfo=LIMA))
        simulate_day(box.engine, clock, tickets=30, tag=f"d{day}")
    health = box.health()
    assert health["backlog"] == box.engine.last_seq() > 700
    assert health["oldest_unsynced_age_seconds"] > 6 * 86400
    agent = box.agent()
    acknowledged = agent.push_all()
    agent.close()
    assert acknowledged == box.engine.last_seq()
    assert len(posts(proxy)) == math.ceil(box.engine.last_seq() / 100)
    assert all(entry["events"] <= 100 for entry in posts(proxy))
    assert_central_holds_exactly(central, box.events())
    assert box.health()["backlog"] == 0


def test_wrong_token_stops_keeps_every_event_and_a_fixed_token_resumes(central, proxy, make_box, clock, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-token-0123456789"
    box = make_box(proxy.url, wrong)
    simulate_day(box.engine, clock)
    box.worker()
    wait_until(lambda: box.health()["state"] == "stopped", what="stopped")
    health = box.health()
    assert "invalid_token" in health["last_error"] and "401" in health["last_error"]
    assert health["backlog"] == box.engine.last_seq()
    seen = len(proxy.log)
    time.sleep(0.6)  # several poll cycles: a stopped agent does not knock again
    assert len(proxy.log) == seen
    assert wrong not in caplog.text and wrong not in json.dumps(health)
    # The administrator fixes the token in sede.toml: the stop lifts without a restart.
    write_sede(box.data_dir, SEDE_TOML + sync_table(proxy.url, central.token))
    wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="resume after the fix")
    assert_central_holds_exactly(central, box.events())
    assert central.token not in caplog.text


def test_other_4xx_stops_until_sync_once(central, proxy, make_box, clock, capsys):
    from turnero.cli import main

    box = make_box(proxy.url, central.token)
    simulate_day(box.engine, clock)
    proxy.script("422")
    box.worker()
    wait_until(lambda: box.health()["state"] == "stopped", what="stopped")
    assert central_acked(central) == 0 and box.health()["backlog"] == box.engine.last_seq()
    assert main(["sync", "--status", "--data-dir", str(box.data_dir)]) == 0
    out = capsys.readouterr().out
    assert "state: stopped" in out and "injected" in out and f"backlog: {box.engine.last_seq()} event(s)" in out
    assert main(["sync", "--once", "--data-dir", str(box.data_dir)]) == 0
    assert capsys.readouterr().out.startswith("sync ok:")
    assert_central_holds_exactly(central, box.events())
    simulate_day(box.engine, clock, tickets=2, tag="b")  # the worker is going again too
    wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="worker resumed")


def test_a_redirect_is_not_followed_and_stops_the_agent(central, proxy, make_box, clock):
    """The https-only rule and the token are for the configured URL: a redirect elsewhere is refused."""
    box = make_box(proxy.url, central.token)
    simulate_day(box.engine, clock, tickets=2)
    proxy.script("302")
    box.worker()
    wait_until(lambda: box.health()["state"] == "stopped", what="stopped")
    assert "302" in box.health()["last_error"]
    assert central_acked(central) == 0 and box.health()["backlog"] == box.engine.last_seq()


def test_sync_once_fails_with_one_line(central, proxy, make_box, clock, capsys):
    from turnero.cli import main

    box = make_box(proxy.url, central.token)
    simulate_day(box.engine, clock, tickets=2)
    proxy.down()
    assert main(["sync", "--once", "--data-dir", str(box.data_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach central" in err
    assert box.health()["state"] == "retrying" and box.health()["backlog"] == box.engine.last_seq()


def test_only_https_except_loopback(make_box, clock, capsys):
    from sync.client import Rejected, check_central_url
    from turnero.cli import main

    for url in ("https://central.example.org", "http://127.0.0.1:9", "http://localhost:8090/", "http://[::1]:80"):
        assert check_central_url(url) == url.rstrip("/")
    for url in ("http://central.example.org", "http://10.0.0.5", "ftp://127.0.0.1", "https://u:p@central.example.org"):
        with pytest.raises(Rejected):
            check_central_url(url)
    box = make_box("http://central.example.org", "tok")
    assert main(["sync", "--once", "--data-dir", str(box.data_dir)]) == 1
    assert "must use https" in capsys.readouterr().err
    assert box.health()["state"] == "stopped"
    box.worker()  # a restart lifts the stop, and the worker refuses the URL again, visibly
    wait_until(lambda: box.health()["state"] == "stopped" and "https" in box.health()["last_error"], what="refusal")


def test_appointments_are_pulled_and_feed_the_kiosk(central, proxy, make_box, clock):
    import_appointments(central.db, SEDE, [
        {"id": "cita-1", "service": "ORI", "starts_at": "2026-11-25T10:30:00-05:00",
         "document": {"type": "DNI", "number": "12345678"}, "name": "Rosa Quispe"},
        {"id": "cita-2", "service": "ORI", "starts_at": "2026-11-25T11:00:00-05:00"},
        {"id": "cita-x", "service": "NOPE", "starts_at": "2026-11-25T11:00:00-05:00"},
    ])
    box = make_box(proxy.url, central.token)
    agent = box.agent()
    assert agent.pull() == {"stored": 2, "skipped": 1}
    assert [a["id"] for a in box.engine.appointments_for_document("12345678")] == ["cita-1"]
    ticket, _ = box.engine.issue(None, appointment="cita-1")
    assert ticket["channel"] == "appointment" and ticket["document"]["number"] == "12345678"
    import_appointments(central.db, SEDE, [{"id": "cita-2", "service": "ORI", "status": "cancelled",
                                            "starts_at": "2026-11-25T11:00:00-05:00"}])
    requests_before = len(proxy.log)
    assert agent.pull() == {"stored": 1, "skipped": 0}  # only what changed since the cursor
    assert box.store.read_one("SELECT status FROM appointments WHERE id = 'cita-2'")[0] == "cancelled"
    assert agent.pull() == {"stored": 0, "skipped": 0}
    assert len(proxy.log) > requests_before
    agent.close()


def test_retention_purges_personal_data_and_reports_still_add_up(central, proxy, make_box, clock):
    box = make_box(proxy.url, central.token, retention_days=2, batch_size=50)
    for day in range(4):
        clock.set(datetime(2026, 11, 21 + day, 9, 0, tzinfo=LIMA))
        simulate_day(box.engine, clock, tickets=10, tag=f"d{day}")
    period = ("2026-11-21", "2026-11-24")
    before = compute_stats(box.engine, *period)
    assert purge(box.engine, box.settings.sync)["events"] == 0  # nothing acknowledged: nothing touched
    agent = box.agent()
    agent.push_batch()  # only the first 50 events are acknowledged
    purge(box.engine, box.settings.sync)
    unacked = box.engine.events_after(50, 10 ** 6)
    assert any("Persona" in json.dumps(e["data"]) for e in unacked)
    agent.push_all()
    agent.close()
    counts = purge(box.engine, box.settings.sync)
    assert counts["events"] > 0 and counts["tickets"] > 0 and counts["attentions"] > 0
    cutoff = box.engine.clock() - 2 * 86400
    for event in box.engine.events_after(0, 10 ** 6):
        text = json.dumps(event["data"], ensure_ascii=False)
        personal = any(word in text for word in PERSONAL_WORDS)
        assert personal == (event["at"] >= cutoff) or not event["type"].startswith("ticket."), event
    # A ticket row goes once all of it is past the retention: by the time it was closed.
    old = box.store.read("SELECT document_number, name FROM tickets WHERE finished_at < ?", (cutoff,))
    assert old and all(row["document_number"] is None and row["name"] is None for row in old)
    recent = box.store.read("SELECT document_number FROM tickets WHERE issued_at >= ? AND status = 'done'",
                            (cutoff,))
    assert recent and all(row["document_number"] for row in recent)
    notes = box.store.read("SELECT notes, case_ref FROM attentions WHERE ended_at < ?", (cutoff,))
    assert notes and all(row["notes"] is None and row["case_ref"] is None for row in notes)
    assert compute_stats(box.engine, *period) == before
    # The central case system is the system of record: it keeps what it received.
    assert central.db.one("SELECT COUNT(*) FROM events WHERE data LIKE '%Persona d0%'")[0] > 0
    again = purge(box.engine, box.settings.sync)
    assert again["events"] == again["tickets"] == again["attentions"] == 0


def test_healthz_reports_sync(central, tmp_path, clock, data_dir):
    from turnero import create_app

    plain = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    body = plain.test_client().get("/healthz").get_json()
    assert body["sync"]["state"] == "disabled"
    plain.extensions["turnero"].store.close()
    configured = write_sede(tmp_path / "configured", SEDE_TOML + sync_table(central.url, central.token))
    app = create_app({"DATA_DIR": str(configured), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    engine = app.extensions["turnero"].engine
    simulate_day(engine, clock, tickets=2)
    sync = app.test_client().get("/healthz").get_json()["sync"]
    assert sync["state"] == "ok" and sync["backlog"] == engine.last_seq() and sync["last_success"] is None
    assert set(sync) >= {"state", "backlog", "last_success", "last_error", "oldest_unsynced_age_seconds"}
    app.extensions["turnero"].store.close()


def test_admin_routes_show_status_and_sync_now(central, tmp_path, clock):
    from turnero import create_app

    configured = write_sede(tmp_path / "admin", SEDE_TOML + sync_table(central.url, central.token,
                                                                        interval_seconds=3600))
    app = create_app({"DATA_DIR": str(configured), "NOW": clock, "ENV": {}, "START_WORKERS": True,
                      "SYNC_WORKER_OPTIONS": {"poll_seconds": 3600, "gather_seconds": 0.05}})
    box = app.extensions["turnero"]
    try:
        tokens = {}
        for name, role in (("ana", "staff"), ("sofia", "supervisor"), ("root", "admin")):
            box.accounts.add_user(name, role, "clave-segura-123")
            tokens[name] = box.accounts.login(name, "clave-segura-123")["token"]
        client = app.test_client()

        def call(method, path, who):
            return client.open(f"/api/v1/sync/{path}", method=method,
                               headers={"Authorization": f"Bearer {tokens[who]}"})

        assert call("GET", "status", "ana").status_code == 403
        assert call("POST", "run", "sofia").status_code == 403
        wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="the start-up round")
        # Another process (a CLI command) writes events: no commit reaches this worker, and it polls
        # only hourly here, so only "sync now" sends them.
        other = BoxUnderTest(configured, clock)
        simulate_day(other.engine, clock, tickets=3)
        other.close()
        time.sleep(0.3)
        assert central_acked(central) < box.engine.last_seq()
        answer = call("POST", "run", "root")
        assert answer.status_code == 202 and answer.get_json()["sync"]["backlog"] == box.engine.last_seq() - \
            central_acked(central)
        wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="sync now")
        # the box records the acknowledgement just after the central stored the batch
        wait_until(lambda: call("GET", "status", "sofia").get_json()["sync"]["backlog"] == 0, what="backlog 0")
        # The admin page's "sync now" button does the same.
        other = BoxUnderTest(configured, clock)
        simulate_day(other.engine, clock, tickets=2, tag="b")
        other.close()
        assert "Sincronización solicitada" in app.extensions["turnero.device_tests"]["sync"]()
        wait_until(lambda: central_acked(central) == box.engine.last_seq(), what="sync now from the admin page")
    finally:
        box.stop()
        box.store.close()


def test_sync_now_without_central_is_a_conflict(app, tokens):
    response = app.test_client().post("/api/v1/sync/run", headers={"Authorization": f"Bearer {tokens['root']}"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "sync_disabled"


def test_without_a_central_side_personal_data_still_leaves_after_the_retention(data_dir, clock):
    """No [sync] central_url: nothing is ever "acknowledged", yet a document or a name is kept only
    for retention_days (privacy by default); the box's retention worker does it on its own."""
    from turnero import create_app

    clock.set(datetime(2026, 10, 1, 9, 0, tzinfo=LIMA))
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    box = app.extensions["turnero"]
    simulate_day(box.engine, clock, tickets=6, tag="old")
    period = ("2026-10-01", "2026-10-01")
    before = compute_stats(box.engine, *period)
    clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=LIMA))  # 55 days later; the default retention is 30
    simulate_day(box.engine, clock, tickets=3, tag="new")
    box.stop()
    box.store.close()

    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": True})
    box = app.extensions["turnero"]
    try:
        # The sync worker purges while [sync] central_url is empty (and starts syncing once a hand edit sets it).
        assert any(type(worker).__name__ == "SyncWorker" for worker in box.workers)
        cutoff = clock() - 30 * 86400
        assert box.store.read("SELECT 1 FROM tickets WHERE finished_at < ?", (cutoff,))
        wait_until(lambda: not box.store.read("SELECT 1 FROM tickets WHERE finished_at < ? AND (name IS NOT NULL"
                                              " OR document_number IS NOT NULL)", (cutoff,)),
                   what="the retention worker's first purge")
        old_events = box.store.read("SELECT data FROM events WHERE at < ?", (cutoff,))
        assert old_events and not any(word in row["data"] for row in old_events for word in PERSONAL_WORDS)
        assert box.store.read("SELECT 1 FROM tickets WHERE name LIKE 'Persona new%'")  # within the retention
        assert compute_stats(box.engine, *period) == before
    finally:
        box.stop()
        box.store.close()
    # Gone from the file itself, not just from query results: secure_delete overwrote the cells and
    # the WAL's old page images were checkpointed away.
    # (A name may stay only where a row still holds it: a ticket closed within the retention.)
    import re
    import sqlite3

    raw = b"".join(path.read_bytes() for path in data_dir.glob("turnero.db*") if path.is_file())
    database = sqlite3.connect(data_dir / "turnero.db")
    held = {name for (name,) in database.execute("SELECT name FROM tickets WHERE name IS NOT NULL")}
    held |= {match for (data,) in database.execute("SELECT data FROM events")
             for match in re.findall(r"Persona old\d+", data)}
    database.close()
    in_file = {match.decode() for match in re.findall(rb"Persona old\d+", raw)}
    assert in_file <= held, in_file - held
    assert len(in_file) < 6  # most of the old day's names are gone from the file
