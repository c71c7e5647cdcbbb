"""The demo sede: sample settings, staff, devices and a sprinkling of waiting tickets."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import config
from config import SETTINGS_FILE, load_settings
from turnero.accounts import Accounts
from turnero.engine import Engine
from turnero.errors import DomainError
from turnero.store import Store

DEMO_SETTINGS = Path(config.__file__).resolve().parent / "demo.sede.toml"
DEMO_USERS = (("defensor1", "staff", "defensor1-demo"), ("defensor2", "staff", "defensor2-demo"),
              ("supervisor", "supervisor", "supervisor-demo"), ("admin", "admin", "admin-demo"))


DEMO_DEVICES_FILE = "demo-devices.json"  # the demo's device tokens, so they survive restarts


def reachable_host(host: str) -> str:
    """The address people type: for a wildcard bind, this machine's LAN address (no packet is sent)."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a documentation address: only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def _demo_devices(data_dir: Path, accounts: Accounts, now: float) -> dict:
    """The demo kiosk and display tokens: the ones printed before while they still work (device tokens
    survive restarts), else fresh ones."""
    path = data_dir / DEMO_DEVICES_FILE
    try:
        tokens = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tokens = {}
    wanted = {"kiosco-demo": "kiosk", "pantalla-demo": "display"}
    changed = False
    for name, role in wanted.items():
        principal = accounts.authenticate(tokens.get(name), now) if tokens.get(name) else None
        if principal is None or principal.role != role:
            tokens[name] = accounts.add_device(name, role)
            changed = True
    if changed:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
            json.dump(tokens, fh)
    return tokens


def prepare_demo(data_dir: Path, host: str, port: int) -> list[str]:
    """Create the demo sede if absent, with its staff and devices. Returns the lines to print."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings_path = data_dir / SETTINGS_FILE
    fresh = not settings_path.exists()
    host = reachable_host(host)
    if fresh:
        text = DEMO_SETTINGS.read_text(encoding="utf-8")
        text = text.replace('public_base_url = "http://127.0.0.1:8080"', f'public_base_url = "http://{host}:{port}"')
        settings_path.write_text(text, encoding="utf-8")
    settings = load_settings(data_dir)
    store = Store.in_data_dir(data_dir)
    accounts = Accounts(store, settings.sede["session_hours"])
    for username, role, password in DEMO_USERS:
        try:
            accounts.add_user(username, role, password)
        except DomainError:
            pass  # already there from an earlier demo run
    devices = _demo_devices(data_dir, accounts, store.clock())
    kiosk, display = devices["kiosco-demo"], devices["pantalla-demo"]
    if fresh:
        engine = Engine(store, settings)
        for service, priority in (("ORI", None), ("ORI", "adulto_mayor"), ("PEN", None), ("CON", None)):
            engine.issue(service, priority=priority, channel="staff")
    store.close()
    base = f"http://{host}:{port}"
    return [
        f"Turnero demo sede in {data_dir}",
        f"  kiosk:      {base}/kiosk?device_token={kiosk}",
        f"  display:    {base}/display?device_token={display}",
        f"  counter:    {base}/counter",
        f"  supervisor: {base}/supervisor",
        f"  reports:    {base}/reports",
        f"  admin:      {base}/admin",
        "  logins:     " + ", ".join(f"{user} / {password}" for user, _, password in DEMO_USERS),
        f"  health:     {base}/healthz",
    ]
