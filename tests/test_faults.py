"""Disk full and a read-only database: a clear JSON error, a 503 health, and nothing corrupted."""
import sqlite3

import pytest


def test_disk_full_gives_a_clear_error_and_loses_nothing(app, api):
    kept = [api.post("/tickets", {"service": "ORI"}).json["id"] for _ in range(3)]
    conn = app.extensions["turnero"].store.connect()  # the test client runs on this thread
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own 'database or disk is full'
    try:
        failures = [api.post("/tickets", {"service": "ORI", "name": "x" * 100,
                                          "document": {"type": "DNI", "number": "12345678"}}) for _ in range(30)]
        assert any(response.status_code == 503 for response in failures)
        full = next(response for response in failures if response.status_code == 503)
        assert full.json["error"]["code"] == "database_unavailable"
        health = app.test_client().get("/healthz")
        assert health.status_code in (200, 503)  # the heartbeat row may still fit; no 500 either way
    finally:
        conn.execute("PRAGMA max_page_count = 1073741823")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    statuses = [api.get(f"/tickets/{ticket_id}").json["status"] for ticket_id in kept]
    assert statuses == ["waiting"] * 3
    created = [r.json["number"] for r in failures if r.status_code == 201]
    after = api.post("/tickets", {"service": "ORI"}).json["number"]
    assert after == 3 + len(created) + 1  # no number lost or doubled by the failures
    seqs = [row[0] for row in conn.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


def test_read_only_database_is_503_not_500(app, api):
    api.post("/tickets", {"service": "ORI"})
    conn = app.extensions["turnero"].store.connect()
    conn.execute("PRAGMA query_only = 1")
    try:
        response = api.post("/tickets", {"service": "ORI"})
        assert response.status_code == 503 and response.json["error"]["code"] == "database_unavailable"
        health = app.test_client().get("/healthz")
        assert health.status_code == 503 and health.json["db"].startswith("error")
        assert api.get("/queue?service=ORI").status_code == 200  # reads still work
    finally:
        conn.execute("PRAGMA query_only = 0")
    assert api.post("/tickets", {"service": "ORI"}).json["code"] == "A-002"


def test_locked_database_makes_health_answer_503(app, api, data_dir):
    """Another process holding the write lock: /healthz says so (503) instead of hanging for the
    30 s a ticket write would wait, and answers 200 again once the lock is gone."""
    holder = sqlite3.connect(data_dir / "turnero.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        health = api.client.get("/healthz")
        assert health.status_code == 503 and "locked" in health.json["db"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert api.client.get("/healthz").status_code == 200


def test_a_write_not_flushed_may_not_carry_events(engine):
    """durable=False is for device state only (a print job's status): events, which the central
    side keeps by seq, must never exist only in memory, so such a write is refused whole."""
    before = engine.last_seq()
    with pytest.raises(ValueError):
        with engine.store.write(durable=False) as tx:
            tx.execute("INSERT INTO kv (key, value) VALUES ('probe', '1')")
            tx.append_event("ticket.note", {"ticket": {"id": "x"}})
    assert engine.last_seq() == before
    assert engine.store.get_kv("probe") is None
    assert engine.store.read_one("PRAGMA synchronous")[0] == 2  # FULL again for the next write


def test_group_commit_answers_each_writer_after_a_flush_begun_after_its_commit(tmp_path):
    """turnero.store.GroupCommit: a writer returns only once a flush that began after its commit
    has ended (so its commit is on disk), and writers that commit meanwhile share one flush."""
    import threading
    import time

    from turnero.store import GroupCommit

    wal = tmp_path / "turnero.db-wal"
    wal.write_bytes(b"frames")
    began, ended = [], []

    def slow_flush(call, *args):
        index = len(began)
        began.append(index)
        time.sleep(0.01)  # a disk that takes its time: writers pile up behind the flush
        call(*args)
        ended.append(index)

    group = GroupCommit(wal, run_blocking=slow_flush)
    problems = []

    def writer():
        for _ in range(5):
            ticket = group.committed()
            mark = len(began)  # any flush with this index or later began after the commit
            group.wait(ticket)
            if not any(index >= mark for index in ended):
                problems.append(ticket)

    threads = [threading.Thread(target=writer) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not problems
    assert 0 < group.flushes < 60  # 60 commits, fewer flushes


def test_a_store_with_group_commit_flushes_before_it_answers(tmp_path):
    from turnero.store import GroupCommit, Store

    group = GroupCommit(tmp_path / "turnero.db-wal")
    store = Store(tmp_path / "turnero.db", group_commit=group)
    try:
        assert store.read_one("PRAGMA synchronous")[0] == 1  # NORMAL: the commit itself does not flush
        before = group.flushes
        with store.write() as tx:
            tx.execute("INSERT INTO kv (key, value) VALUES ('k', 'v')")
        assert group.flushes == before + 1
        with store.write(durable=False) as tx:  # device state: no flush waited for
            tx.execute("UPDATE kv SET value = 'w' WHERE key = 'k'")
        assert group.flushes == before + 1
    finally:
        store.close()
