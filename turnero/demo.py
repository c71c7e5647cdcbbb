"""The demo sede: sample settings, staff, devices and a sprinkling of waiting tickets."""
from __future__ import annotations

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


def prepare_demo(data_dir: Path, host: str, port: int) -> list[str]:
    """Create the demo sede if absent; always issue fresh device tokens. Returns lines to print."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings_path = data_dir / SETTINGS_FILE
    fresh = not settings_path.exists()
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
    kiosk = accounts.add_device("kiosco-demo", "kiosk")
    display = accounts.add_device("pantalla-demo", "display")
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
