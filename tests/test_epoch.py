"""A restored or upgraded box reuses seq numbers (security review, item 9): each database has an
epoch, made with it and renewed by a restore; the central receiver keeps events per epoch, never
merges two different events under one seq, loses neither, and its KPIs count each ticket once.
The real `turnero backup` and `turnero restore`, the real sync agent, and a real central receiver
on 127.0.0.1 on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import json
import sqlite3

import pytest
import requests

from central.service import add_viewer
from sync.client import CentralClient
from tests.conftest import SEDE_TOML, write_sede
from tests.test_anchor import central, verify  # noqa: F401 - fixtures, used by name
from tests.test_central import postgres_server  # noqa: F401
from tests.test_cli import turnero
from tests.test_sync import SEDE, BoxUnderTest, simulate_day, sync_table
from turnero import audit
from turnero.sync_state import SyncState


def held(central, epoch) -> list[tuple]:
    return [tuple(row) for row in central.db.all(
        "SELECT seq, id FROM events WHERE sede = ? AND epoch = ? ORDER BY seq", (SEDE, epoch))]


def as_held(events) -> list[tuple]:
    return [(event["seq"], event["id"]) for event in events]


def kpi_totals(central, day="2026-11-25") -> dict:
    """The sede's totals as the central office reads them (a viewer's HTTP Basic credential)."""
    if not hasattr(central, "viewer"):
        central.viewer = base64.b64encode(f"auditora:{add_viewer(central.db, 'auditora')}".encode()).decode()
    return requests.get(f"{central.url}/api/v1/sedes/{SEDE}/kpis", params={"from": day},
                        headers={"Authorization": f"Basic {central.viewer}"}, timeout=30).json()["totals"]


def expected_totals(*histories) -> tuple[int, int, int]:
    """(issued, served, no-shows) over the union of events by id: what happened, each once."""
    union = {event["id"]: event for history in histories for event in history}
    issued = sum(event["type"] == "ticket.issued" for event in union.values())
    outcomes = [event["data"]["attention"]["outcome"] for event in union.values()
                if isinstance(event["data"].get("attention"), dict)]
    return issued, sum(outcome != "no_show" for outcome in outcomes), outcomes.count("no_show")


def test_a_restored_box_sends_under_a_new_epoch_and_the_central_keeps_both(central, tmp_path, clock):
    data_dir = write_sede(tmp_path / "box", SEDE_TOML + sync_table(central.url, central.token))
    box = BoxUnderTest(data_dir, clock)
    simulate_day(box.engine, clock, tickets=4, tag="a")
    first_epoch = box.store.epoch()
    box.close()
    archive = tmp_path / "turnero-backup.tar.gz"
    assert turnero("backup", str(archive), "--data-dir", str(data_dir)).returncode == 0
    box = BoxUnderTest(data_dir, clock)
    at_backup = box.engine.last_seq()
    simulate_day(box.engine, clock, tickets=3, tag="b")  # after the backup: lost by the restore below
    agent = box.agent()
    assert agent.push_all() == box.engine.last_seq()
    agent.close()
    before_restore = box.events()
    box.close()

    restored = turnero("restore", str(archive), "--force", "--data-dir", str(data_dir))
    assert restored.returncode == 0, restored.stderr
    box = BoxUnderTest(data_dir, clock)
    epoch = box.store.epoch()
    assert epoch != first_epoch and box.engine.last_seq() == at_backup
    last = audit.entries(box.store, 1)[0]
    assert last["action"] == "cli restore" and last["details"]["epoch_renewed"] == {"from": first_epoch, "to": epoch}
    assert SyncState(box.store).acked_seq() == 0  # nothing of the new epoch is at the central side
    assert audit.verify(box.store)[0] is True
    simulate_day(box.engine, clock, tickets=2, tag="c")  # reuses the seqs of "b", with other events
    assert box.engine.last_seq() > at_backup
    agent = box.agent()
    assert agent.push_all() == box.engine.last_seq()  # not a seq_conflict: another epoch
    agent.close()
    after_restore = box.events()

    assert held(central, first_epoch) == as_held(before_restore)  # nothing overwritten, nothing lost
    assert held(central, epoch) == as_held(after_restore)
    reused = {e["seq"] for e in before_restore} & {e["seq"] for e in after_restore if e["seq"] > at_backup}
    assert reused  # the same seq numbers, two different events, both kept
    totals = kpi_totals(central)
    assert (totals["issued"], totals["served"], totals["no_shows"]) == expected_totals(before_restore, after_restore)
    assert totals["issued"] < sum(e["type"] == "ticket.issued" for e in before_restore + after_restore)
    box.close()
    agrees = turnero("audit", "verify", "--against-central", "--data-dir", str(data_dir))
    assert agrees.returncode == 0 and epoch in agrees.stdout, agrees.stderr
    # The epoch is part of what the trail records: changing it by hand shows.
    conn = sqlite3.connect(data_dir / "turnero.db")
    conn.execute("UPDATE box_identity SET epoch = ?", (first_epoch,))
    conn.commit()
    conn.close()
    intact, _, detail = verify(data_dir)
    assert not intact and "epoch" in detail


def test_a_box_of_the_previous_version_resends_its_history_once_under_its_epoch(central, tmp_path, clock):
    data_dir = write_sede(tmp_path / "box", SEDE_TOML + sync_table(central.url, central.token))
    box = BoxUnderTest(data_dir, clock)
    try:
        simulate_day(box.engine, clock, tickets=5)
        # What the box sent before it was upgraded: no epoch (the central's legacy epoch).
        old = CentralClient(central.url, SEDE, central.token)
        events = box.events()
        assert old.push(events) == len(events)
        old.close()
        SyncState(box.store).record_ack(len(events), clock())
        before = kpi_totals(central)
        assert before["issued"] > 0
        simulate_day(box.engine, clock, tickets=2, tag="new")
        agent = box.agent()
        agent.push_all()  # the central holds nothing of this epoch: it answers 0 and the box goes back
        agent.close()
        assert SyncState(box.store).acked_seq() == box.engine.last_seq()
        assert held(central, box.store.epoch()) == as_held(box.events())
        assert held(central, "legacy") == as_held(events)
        totals = kpi_totals(central)
        assert (totals["issued"], totals["served"], totals["no_shows"]) == expected_totals(box.events())
        received = central.db.one("SELECT events_received FROM sedes WHERE code = ?", (SEDE,))[0]
        assert received == len(events) + box.engine.last_seq()  # kept twice, counted once
    finally:
        box.close()


@pytest.mark.parametrize("body", [{"sede": SEDE, "events": []}, {"sede": SEDE, "epoch": None, "events": []}])
def test_an_old_box_without_an_epoch_keeps_working(central, body):
    auth = {"Authorization": f"Bearer {central.token}"}
    url = f"{central.url}/api/v1/sedes/{SEDE}/events"
    event = {"seq": 1, "id": "e1", "type": "ticket.issued", "at": "2026-11-25T10:00:00.000-05:00",
             "data": {"ticket": {"id": "t1", "service": "ORI"}}}
    assert requests.post(url, json={**body, "events": [event]}, headers=auth, timeout=30).json() == {"acked_seq": 1}
    assert requests.post(url, json=body, headers=auth, timeout=30).json() == {"acked_seq": 1}
    assert held(central, "legacy") == [(1, "e1")]
    answer = requests.get(f"{central.url}/api/v1/sedes/{SEDE}/anchor", headers=auth, timeout=30).json()
    assert answer["epochs"][0]["epoch"] == "legacy" and answer["epochs"][0]["audit_head"] is None
    assert json.loads(central.db.one("SELECT data FROM events")[0])["ticket"]["id"] == "t1"
