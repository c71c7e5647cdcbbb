"""The device process's line (turnero.web.devices), in one test process: a host app serving its
parts' workers on the UNIX socket, and a web app whose parts call them through it."""
from __future__ import annotations

import threading

import pytest

from tests.conftest import SEDE_TOML, wait_for, write_sede
from turnero.errors import DomainError
from turnero.web.app import create_app


@pytest.fixture
def pair(tmp_path):
    data_dir = write_sede(tmp_path / "data", SEDE_TOML)  # no printer: its test print is refused
    host_app = create_app({"DATA_DIR": str(data_dir), "DEVICE_HOST": True, "ENV": {}, "START_WORKERS": False})
    host = host_app.extensions["turnero"].host
    serving = threading.Thread(target=host.serve_forever, daemon=True)
    serving.start()
    web_app = create_app({"DATA_DIR": str(data_dir), "DEVICES": True, "ENV": {}, "START_WORKERS": False})
    yield host_app, web_app
    for app in (web_app, host_app):
        app.extensions["turnero"].stop()
    host.stop()
    serving.join(timeout=5)
    for app in (web_app, host_app):
        app.extensions["turnero"].store.close()


def test_web_parts_reach_the_device_workers_and_their_errors(pair):
    host_app, web_app = pair
    web = web_app.extensions["turnero"]
    # the printer's health as the device process's print worker knows it
    assert web.health["printer"]() == host_app.extensions["printers"].health()
    # an error of the device process arrives as the same DomainError (the API's JSON error)
    with pytest.raises(DomainError) as error:
        web_app.extensions["turnero.device_tests"]["printer"]()
    assert (error.value.code, error.value.status) == ("printer_disabled", 409)
    # only public methods are served
    with pytest.raises(DomainError) as refused:
        web.devices.call("printer", "_run")
    assert refused.value.code == "devices_failed"


def test_a_web_commit_wakes_the_device_process(pair):
    host_app, web_app = pair
    client = web_app.test_client()
    token = web_app.extensions["turnero"].accounts.add_device("kiosco-9", "kiosk")
    heard = []
    host_app.extensions["turnero"].store.on_commit(heard.append)
    response = client.post("/api/v1/tickets", json={"service": "ORI"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    assert wait_for(lambda: any(e["type"] == "ticket.issued" for events in heard for e in events), 10)


def test_the_master_starts_the_device_process_again_when_it_dies(tmp_path):
    """kill -9 of the device process: the Gunicorn master starts a new one, the web worker
    reconnects to it (the voice's health is answered again), and tickets are issued."""
    import os
    import signal
    import time
    from pathlib import Path

    import requests

    from tests.conftest import LiveBox

    def device_pids(box):
        """The master's children named turnero-devices (forked from the master, it has its command line)."""
        found = []
        for task in Path(f"/proc/{box.process.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "turnero-devices":
                        found.append(int(pid))
                except OSError:
                    continue
        return found

    box = LiveBox(write_sede(tmp_path / "data", SEDE_TOML)).prepare().start()
    try:
        assert wait_for(lambda: len(device_pids(box)) == 1, 30)
        first = device_pids(box)[0]
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: device_pids(box) and device_pids(box)[0] != first, 30)
        time.sleep(1.1)  # past /healthz's one-second cache: the answers below are new
        # the worker's next call reaches the new process
        assert wait_for(lambda: requests.get(box.url + "/healthz", timeout=10).json()["voice"].get("status") == "ok",
                        30)
        assert box.call("POST", "/tickets", json={"service": "ORI"}).status_code == 201
    finally:
        box.stop()
