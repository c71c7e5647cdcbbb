"""A hand edit of sede.toml's [sync] on a running box (a real `turnero run`, a real central receiver
on 127.0.0.1): applied without a restart; an invalid edit keeps the box running on what it had,
and /healthz says so in words an operator reads."""
from __future__ import annotations

import json

import requests
from conftest import SEDE_TOML, LiveBox, write_sede
from test_sync import SEDE, central, central_acked, sync_table, wait_until  # noqa: F401 (central: the real receiver, a fixture)



def healthz(box) -> dict:
    return requests.get(box.url + "/healthz", timeout=10).json()


def central_holds_ticket(central, ticket_id) -> bool:
    rows = central.db.all("SELECT data FROM events WHERE sede = ? AND type = 'ticket.issued'", (SEDE,))
    return any(json.loads(data)["ticket"]["id"] == ticket_id for (data,) in rows)


def issue(box):
    """A ticket from the kiosk; returns its id."""
    response = box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI"})
    assert response.status_code == 201, response.text
    body = response.json()
    return body.get("ticket", body)["id"]


def test_sync_switched_on_by_hand_then_an_invalid_edit(central, tmp_path):
    data_dir = write_sede(tmp_path / "box")  # no [sync]: the box starts with sync off
    box = LiveBox(data_dir).prepare()
    try:
        box.start()
        issue(box)
        health = healthz(box)
        assert health["sync"]["state"] == "disabled" and health["status"] == "ok"

        # The administrator switches sync on by editing sede.toml; the box is not restarted.
        write_sede(data_dir, SEDE_TOML + sync_table(central.url, central.token))
        wait_until(lambda: healthz(box)["sync"]["state"] == "ok", what="/healthz sees the new [sync]")
        after = issue(box)
        wait_until(lambda: central_holds_ticket(central, after),
                   what="a ticket issued after the edit reaches the central")
        wait_until(lambda: (lambda sync: sync["backlog"] == 0 and sync["acked_seq"] == central_acked(central))(
            healthz(box)["sync"]), what="/healthz: nothing left to send")

        # A bad edit: the box keeps serving and syncing on the settings it had, and says why.
        write_sede(data_dir, SEDE_TOML + sync_table("ftp://central.example", central.token))
        wait_until(lambda: "settings_error" in healthz(box)["sync"], what="/healthz reports the bad file")
        health = healthz(box)
        problem = health["sync"]["settings_error"]
        assert "sede.toml" in problem and "no es válido" in problem and "sync.central_url" in problem
        assert "sigue funcionando con los ajustes que tenía" in problem
        assert health["status"] == "degraded" and health["db"] == "ok"
        assert central.token not in json.dumps(health)
        during = issue(box)  # still issuing tickets, still sending them with the previous settings
        wait_until(lambda: central_holds_ticket(central, during),
                   what="sync goes on with the settings it had")

        # Fixed: the complaint goes away without a restart.
        write_sede(data_dir, SEDE_TOML + sync_table(central.url, central.token, interval_seconds=120))
        wait_until(lambda: "settings_error" not in healthz(box)["sync"], what="the fixed file is read")
        assert healthz(box)["status"] == "ok"
        assert box.process.poll() is None
    finally:
        box.stop()
