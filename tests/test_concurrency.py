"""Two counters never get the same ticket; a kill -9 loses no acknowledged ticket and leaves no gap."""
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import SEDE_TOML, USERS, Kiosks, LiveBox, wait_for, write_sede

MANY_COUNTERS = SEDE_TOML + "".join(
    f'\n[[counters]]\nid = "x{i}"\nname = "Extra {i}"\nservices = ["ORI"]\n' for i in range(12))
CLERKS = {f"clerk{i}": "staff" for i in range(12)}


def test_threads_calling_next_in_one_process(engine):
    for _ in range(200):
        engine.issue("ORI")
    called, errors = [], []
    lock = threading.Lock()

    def clerk(counter, name):
        while True:
            try:
                ticket = engine.call_next(counter, name)
            except Exception as exc:  # a failure here is the bug this test looks for
                errors.append(exc)
                return
            if ticket is None:
                return
            with lock:
                called.append(ticket["id"])
            engine.no_show(ticket["id"], name)

    threads = [threading.Thread(target=clerk, args=(c, n)) for c, n in (("v1", "ana"), ("v2", "beto"), ("c1", "eva"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(called) == 200 and len(set(called)) == 200
    seqs = [row[0] for row in engine.store.read("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.fixture
def busy_box(tmp_path):
    box = LiveBox(write_sede(tmp_path / "d", MANY_COUNTERS)).prepare(users={**USERS, **CLERKS}).start()
    yield box
    box.stop()


def test_twelve_counters_over_http_call_each_ticket_once(busy_box):
    session = requests.Session()
    for _ in range(150):
        assert busy_box.call("POST", "/tickets", json={"service": "ORI"}).status_code == 201

    def clerk(index):
        mine = []
        http = requests.Session()
        headers = {"Authorization": f"Bearer {busy_box.tokens[f'clerk{index}']}"}
        while True:
            response = http.post(f"{busy_box.url}/api/v1/counters/x{index}/call-next", headers=headers, timeout=30)
            if response.status_code == 204:
                return mine
            assert response.status_code == 200, response.text
            ticket = response.json()["ticket"]
            mine.append(ticket["id"])
            finish = http.post(f"{busy_box.url}/api/v1/tickets/{ticket['id']}/no-show", headers=headers, timeout=30)
            assert finish.status_code == 200, finish.text

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(clerk, range(12)))
    called = [ticket for mine in results for ticket in mine]
    assert len(called) == 150 and len(set(called)) == 150
    events = session.get(f"{busy_box.url}/api/v1/events?after=0&limit=1000",
                         headers={"Authorization": f"Bearer {busy_box.tokens['ana']}"}).json()["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    called_events = [e["data"]["ticket"]["id"] for e in events if e["type"] == "ticket.called"]
    assert sorted(called_events) == sorted(called)


def test_kill_9_under_load_loses_no_acknowledged_ticket(tmp_path):
    data_dir = write_sede(tmp_path / "d")
    box = LiveBox(data_dir).prepare().start()
    kiosks = Kiosks(box).start()
    wait_for(lambda: len(kiosks.acknowledged) >= 200, 20)
    box.kill(9)  # the whole process group, mid-load
    kiosks.stop()
    acknowledged = kiosks.acknowledged
    assert len(acknowledged) >= 50

    db = sqlite3.connect(data_dir / "turnero.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM tickets")}
    assert {ticket["id"] for ticket in acknowledged} <= stored
    numbers = [row[0] for row in db.execute("SELECT number FROM tickets ORDER BY number")]
    assert numbers == list(range(1, len(numbers) + 1))  # no gap, no duplicate
    seqs = [row[0] for row in db.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    db.close()

    box.start()  # same data directory, same port
    try:
        after = box.call("POST", "/tickets", json={"service": "ORI"}).json()
        assert after["number"] == len(numbers) + 1
    finally:
        box.stop()
