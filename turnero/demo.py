"""The demo sede: sample settings, staff, devices, a month of history, a few waiting tickets and
appointments, and (beside it) a reference central receiver that the sede syncs to."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from datetime import datetime, time, timedelta
from pathlib import Path

import config
from config import SETTINGS_FILE, load_settings
from turnero.accounts import Accounts
from turnero.demo_history import appointments_left_today, write_history
from turnero.engine import Engine
from turnero.errors import DomainError
from turnero.store import DB_FILE, Store

DEMO_SETTINGS = Path(config.__file__).resolve().parent / "demo.sede.toml"
DEMO_USERS = (("defensor1", "staff", "defensor1-demo"), ("defensor2", "staff", "defensor2-demo"),
              ("defensor3", "staff", "defensor3-demo"), ("supervisor", "supervisor", "supervisor-demo"),
              ("admin", "admin", "admin-demo"))
# Who worked each counter in the history; defensor3 works the consultorio, so sees the reserved service.
DEMO_STAFF = {"v1": "defensor1", "v2": "defensor2", "consultorio-1": "defensor3"}
DISCREET_ACCESS = {"defensor3": ["VIC"]}
HISTORY_STAGES = {"history": "Preparando un mes de historia de la sede demo"}


DEMO_DEVICES_FILE = "demo-devices.json"  # the demo's device tokens, so they survive restarts
DEMO_CENTRAL_FILE = "demo-central.json"  # the demo central's port and viewer login, printed on each start
CENTRAL_DB = "central.db"
CENTRAL_VIEWER = "demo"
PREPARING_FILE = "demo-preparing"  # present while a fresh demo is being made: an interrupted one starts over
CENTRAL_PORT_OFFSET = 10  # the demo on 8080 has its central on 8090, the central's own default
CENTRAL_LOG = "central.log"


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


def _write_private(path: Path, data: dict) -> None:
    """Tokens only the person running the demo should read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


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
        _write_private(path, tokens)
    return tokens


def _central_database(data_dir: Path):
    from central.db import Database

    database = Database(f"sqlite:///{data_dir / CENTRAL_DB}")
    database.create_schema()
    return database


def _create_central(data_dir: Path, port: int, sede_code: str, sede_name: str) -> str:
    """The demo's central receiver: its database in the data dir, the sede registered, a viewer for
    its pages. Returns the sede's sync token."""
    from central.service import add_sede, add_viewer

    database = _central_database(data_dir)
    try:
        token = add_sede(database, sede_code, sede_name)
        _write_private(data_dir / DEMO_CENTRAL_FILE,
                       {"port": port, "viewer": CENTRAL_VIEWER, "token": add_viewer(database, CENTRAL_VIEWER)})
    finally:
        database.close()
    return token


def _demo_appointments(engine: Engine) -> list[dict]:
    """Booked appointments (codes only, no personal data) for the rest of today and the next working day."""
    now = engine.clock.local()
    tomorrow = now.date() + timedelta(days=1)
    while tomorrow.weekday() >= 5:
        tomorrow += timedelta(days=1)
    slots = [datetime.combine(now.date(), time(hour, minute), engine.clock.tz)
             for hour in range(9, 17) for minute in (0, 30)]
    later_today = [slot for slot in slots if slot > now + timedelta(minutes=20)][:3]
    moments = later_today + [datetime.combine(tomorrow, time(hour, minute), engine.clock.tz)
                             for hour, minute in ((9, 0), (9, 30), (10, 30), (11, 0))]
    services = [code for code, service in engine.settings.services.items() if service.appointments]
    return [{"id": f"CITA-{1001 + index}", "service": services[index % len(services)],
             "starts_at": moment.isoformat(timespec="seconds"), "status": "booked"}
            for index, moment in enumerate(moments)]


def _sede_identity(settings_text: str) -> tuple[str, str]:
    sede = tomllib.loads(settings_text)["sede"]
    return sede["code"], sede["name"]


def demo_central(data_dir: Path) -> dict | None:
    """The demo central's port and viewer login, when the demo was created with one."""
    try:
        return json.loads((data_dir / DEMO_CENTRAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def start_demo_central(data_dir: Path):
    """Start the demo's central receiver as a child process (None when the demo has none or its port
    is taken). It shares the demo's process group, so Ctrl-C stops both."""
    found = demo_central(data_dir)
    if not found:
        return None
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", found["port"]))
        except OSError:
            print(f"  central:    port {found['port']} is in use; the demo central was not started", flush=True)
            return None
    log = open(data_dir / CENTRAL_LOG, "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--host", "127.0.0.1", "--port",
                                 str(found["port"]), "--database-url", f"sqlite:///{data_dir / CENTRAL_DB}"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    finally:
        log.close()  # the child has its own copy


def _database_files(name: str) -> tuple[str, ...]:
    return name, f"{name}-wal", f"{name}-shm"


def prepare_demo(data_dir: Path, host: str, port: int, history_days: int = 30, central: bool = True,
                 progress=None) -> list[str]:
    """Create the demo sede if absent, with its staff, devices, history, queue and appointments, and
    (``central``) the demo central it syncs to. Returns the lines to print.

    Only a fresh data dir gets the history, tickets and appointments: an existing one is never
    touched beyond its demo users and devices. ``progress(done, total, stage)`` hears the history."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings_path = data_dir / SETTINGS_FILE
    preparing = data_dir / PREPARING_FILE
    if preparing.exists():  # stopped halfway (Ctrl-C during the history): what it made is the demo's own
        for name in (SETTINGS_FILE, DEMO_DEVICES_FILE, DEMO_CENTRAL_FILE, *_database_files(DB_FILE),
                     *_database_files(CENTRAL_DB)):
            (data_dir / name).unlink(missing_ok=True)
    fresh = not settings_path.exists()
    if fresh:
        preparing.touch()
    host = reachable_host(host)
    if fresh:
        text = DEMO_SETTINGS.read_text(encoding="utf-8")
        text = text.replace('public_base_url = "http://127.0.0.1:8080"', f'public_base_url = "http://{host}:{port}"')
        if central:
            code, name = _sede_identity(text)
            token = _create_central(data_dir, port + CENTRAL_PORT_OFFSET, code, name)
            text = text.replace('[sync]\ncentral_url = ""', f'[sync]\ncentral_url = '
                                f'"http://127.0.0.1:{port + CENTRAL_PORT_OFFSET}"\ntoken = "{token}"')
        settings_path.write_text(text, encoding="utf-8")
    settings = load_settings(data_dir)
    store = Store.in_data_dir(data_dir)
    accounts = Accounts(store, settings.sede["session_hours"])
    for username, role, password in DEMO_USERS:
        try:
            accounts.add_user(username, role, password, services=DISCREET_ACCESS.get(username))
        except DomainError:
            pass  # already there from an earlier demo run
    devices = _demo_devices(data_dir, accounts, store.clock())
    kiosk, display = devices["kiosco-demo"], devices["pantalla-demo"]
    if fresh:
        write_history(store, settings, DEMO_STAFF, days=history_days, progress=progress)
        engine = Engine(store, settings)  # back on the real clock
        for service, priority in (("ORI", None), ("ORI", "adulto_mayor"), ("PEN", None), ("CON", None)):
            engine.issue(service, priority=priority, channel="staff")
        appointments = _demo_appointments(engine)
        for appointment in appointments:
            engine.upsert_appointment(appointment)
        if central:
            # The central holds them too, as in real life, so the box's pull finds the same ones.
            from central.service import import_appointments

            database = _central_database(data_dir)
            try:
                import_appointments(database, settings.sede["code"], appointments)
            finally:
                database.close()
        preparing.unlink()
    codes = appointments_left_today(Engine(store, settings))
    store.close()
    base = f"http://{host}:{port}"
    lines = [
        f"Turnero demo sede in {data_dir}",
        f"  kiosk:      {base}/kiosk?device_token={kiosk}",
        f"  display:    {base}/display?device_token={display}",
        f"  counter:    {base}/counter",
        f"  supervisor: {base}/supervisor",
        f"  reports:    {base}/reports",
        f"  admin:      {base}/admin",
        "  logins:     " + ", ".join(f"{user} / {password}" for user, _, password in DEMO_USERS),
    ]
    if codes:
        lines.append(f"  citas hoy:  {', '.join(codes)} (kiosk: 'Tengo cita', type the code)")
    viewer = demo_central(data_dir)
    if viewer:
        lines.append(f"  central:    http://127.0.0.1:{viewer['port']}/  "
                     f"(login {viewer['viewer']} / {viewer['token']})")
    lines.append(f"  health:     {base}/healthz")
    return lines
