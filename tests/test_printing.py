"""Printing: the slip's bytes on a real TCP printer endpoint, the spool worker, health, reprint."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from escpos.printer import Network

from conftest import SEDE_TOML, write_sede
from escpos_capture import CaptureServer, qr_payloads
from printers.codepage import fit
from printers.layout import build_layout
from printers.render import render
from turnero import create_app, print_spool
from turnero.slip import ticket_slip

ESC_INIT = b"\x1b@"
CP858_SELECT = b"\x1bt\x13"  # ESC t 19
FULL_CUT = b"\x1dV\x00"


@pytest.fixture(scope="module")
def printer_server():
    server = CaptureServer()
    yield server
    server.close()


@pytest.fixture
def capture(printer_server):
    printer_server.drop_open()
    printer_server.reset("online")
    return printer_server


def printer_sede(port: int, timeout: float = 0.5, extra: str = "") -> str:
    return SEDE_TOML.replace('[printer]\ntype = "none"', f'[printer]\ntype = "network"\nhost = "127.0.0.1"\n'
                             f'port = {port}\ntimeout_seconds = {timeout}\n{extra}')


@pytest.fixture
def print_app(tmp_path, clock, capture):
    data_dir = write_sede(tmp_path / "data", printer_sede(capture.port))
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False, "TESTING": True})
    yield app
    app.extensions["turnero"].stop()
    app.extensions["turnero"].store.close()


def issue(app, service="ORI", **kwargs):
    ticket, _ = app.extensions["turnero"].engine.issue(service, **kwargs)
    return ticket


def slip_blocks(app, ticket, width_mm=80):
    box = app.extensions["turnero"]
    return build_layout(ticket_slip(box.settings, ticket, box.engine.clock), width_mm)


# ---------------------------------------------------------------------- bytes on the wire


def test_slip_bytes_through_python_escpos_network(print_app, capture):
    ticket = issue(print_app, priority="adulto_mayor", language="es")
    printer = Network("127.0.0.1", capture.port, timeout=2)
    printer.open()
    render(slip_blocks(print_app, ticket), printer, "CP858")
    printer.close()
    data = capture.wait_jobs(1)[0]

    assert data.startswith(ESC_INIT + CP858_SELECT), "the code page is forced right after ESC @"
    assert data.count(b"\x1bt") == 1, "one code page for the whole slip: no magic switching"
    assert ticket["code"].encode() in data
    assert "Orientación legal".encode("cp858") in data
    assert "ATENCIÓN PREFERENTE".encode("cp858") in data
    assert "Orientación".encode("utf-8") not in data
    assert qr_payloads(data) == [ticket["status_url"].encode()]
    assert b"\x1d(k\x03\x001Q0" in data, "the QR is printed natively (GS ( k fn 81)"
    assert data.rstrip(b"\x00").endswith(FULL_CUT) or FULL_CUT in data[-8:]
    assert len(data) <= 1024


def test_slip_says_the_wait_as_a_range_or_por_confirmar(print_app):
    engine = print_app.extensions["turnero"].engine
    unknown = issue(print_app, "PEN")
    texts = [block["text"] for block in slip_blocks(print_app, unknown) if block["kind"] == "text"]
    assert "Espera estimada: por confirmar" in texts
    engine.open_counter("v1", "ana")
    issue(print_app, "PEN")
    third = issue(print_app, "PEN")
    spread = third["eta_range_minutes"]
    assert spread["low"] < spread["high"]
    texts = [block["text"] for block in slip_blocks(print_app, third) if block["kind"] == "text"]
    assert f"Espera estimada: entre {spread['low']} y {spread['high']} min" in texts


def test_58mm_layout_is_narrower_and_still_complete(print_app):
    ticket = issue(print_app)
    wide = slip_blocks(print_app, ticket, 80)
    narrow = slip_blocks(print_app, ticket, 58)
    assert max(len(b["text"]) for b in narrow if b["kind"] in ("text", "rule")) <= 32
    assert [b for b in narrow if b["kind"] == "qr"][0]["data"] == ticket["status_url"]
    assert len([b for b in wide if b["kind"] == "cut"]) == 1


def test_the_complaints_book_is_printed_only_when_the_sede_asks(print_app, tmp_path, clock):
    ticket = issue(print_app)
    texts = [block["text"] for block in slip_blocks(print_app, ticket) if block["kind"] == "text"]
    assert not any("Reclamaciones" in text for text in texts), "off by default"
    url = "https://reclamos.servicios.gob.pe/?institution_id=99"
    sede = SEDE_TOML.replace('[printer]\ntype = "none"', '[printer]\ntype = "none"\ncomplaints_on_slip = true')
    sede = sede.replace("[sede]\n", f'[sede]\ncomplaints_url = "{url}"\n', 1)
    data_dir = write_sede(tmp_path / "complaints", sede)
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False, "TESTING": True})
    try:
        blocks = slip_blocks(app, issue(app), 58)
        texts = [block["text"] for block in blocks if block["kind"] == "text"]
        assert "Libro de Reclamaciones:" in texts and "".join(texts).count(url) == 1
        assert max(len(text) for text in texts) <= 32, "wrapped to the paper"
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


def test_discreet_service_prints_only_the_neutral_label(print_app, capture):
    ticket = issue(print_app, "VIC")
    printer = Network("127.0.0.1", capture.port, timeout=2)
    render(slip_blocks(print_app, ticket), printer, "CP858")
    printer.close()
    data = capture.wait_jobs(1)[0]
    assert b"Atenci\xa2n reservada" in data
    assert "víctimas".encode("cp858") not in data and b"v\xa1ctimas" not in data


def test_text_outside_the_code_page_is_normalized_not_dropped():
    assert fit("Orientación Ñañuñu ü ¿?¡!") == "Orientación Ñañuñu ü ¿?¡!"
    assert fit("“Tinkuy” – Kʼacha ŝ") == "\"Tinkuy\" - K'acha s"
    assert fit("漢") == "?"
    assert fit("Ã ŷ", "CP437") == "A y"  # CP437 lacks Ã: the accent goes, the letter stays


# ---------------------------------------------------------------------- the spool worker


def test_worker_prints_queued_ticket_and_marks_it_printed(print_app, capture):
    ticket = issue(print_app)
    assert ticket["print"]["status"] == "queued"
    worker = print_app.extensions["printers"]
    assert worker.run_once() == 1
    jobs = capture.wait_jobs(1)
    assert any(ticket["code"].encode() in job for job in jobs)
    assert jobs[0].startswith(b"\x10\x04\x01\x10\x04\x04"), "status is read before sending the slip"
    box = print_app.extensions["turnero"]
    assert box.engine.get_ticket(ticket["id"])["print"] == {"status": "printed"}
    assert worker.health()["status"] == "ok"
    assert worker.run_once() == 0, "a printed job is not printed again"


def test_paper_near_end_prints_and_reports_degraded(print_app, capture):
    capture.reset("near_end")
    ticket = issue(print_app)
    worker = print_app.extensions["printers"]
    worker.run_once()
    assert print_app.extensions["turnero"].engine.get_ticket(ticket["id"])["print"]["status"] == "printed"
    health = print_app.test_client().get("/healthz").get_json()
    assert health["printer"]["status"] == "degraded"
    assert health["printer"]["detail"] == "paper_near_end"
    assert health["status"] == "degraded"


@pytest.mark.parametrize("mode, detail", [("paper_out", "paper_out"), ("offline", "offline"),
                                          ("silent", "no_answer")])
def test_printer_that_cannot_print_fails_the_job_and_retries_later(print_app, capture, clock, mode, detail):
    capture.reset(mode)
    ticket = issue(print_app)
    worker = print_app.extensions["printers"]
    box = print_app.extensions["turnero"]
    worker.run_once()
    capture.drop_open()
    assert box.engine.get_ticket(ticket["id"])["print"]["status"] == "failed"
    assert not capture.printed(), "no slip is sent to a printer that said it cannot print"
    health = worker.health()
    assert (health["status"], health["detail"], health["backlog"]) == ("error", detail, 1)
    job = box.store.read_one("SELECT * FROM print_jobs WHERE ticket_id = ?", (ticket["id"],))
    assert (job["status"], job["attempts"], job["last_error"]) == ("queued", 1, detail)
    assert worker.run_once() == 0, "the retry waits for its backoff"

    capture.reset("online")
    clock.advance(print_spool.backoff_seconds(1))
    assert worker.run_once() == 1
    assert any(ticket["code"].encode() in job for job in capture.wait_jobs(1))
    assert box.engine.get_ticket(ticket["id"])["print"]["status"] == "printed"
    assert worker.health()["status"] == "ok"


def test_unreachable_printer_is_reported(tmp_path, clock):
    with socket_closed_port() as port:
        data_dir = write_sede(tmp_path / "data", printer_sede(port))
        app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
        try:
            ticket = issue(app)
            app.extensions["printers"].run_once()
            assert app.extensions["turnero"].engine.get_ticket(ticket["id"])["print"]["status"] == "failed"
            assert app.extensions["printers"].health()["detail"] == "unreachable"
        finally:
            app.extensions["turnero"].stop()
            app.extensions["turnero"].store.close()


class socket_closed_port:
    def __enter__(self):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


def test_job_gives_up_after_max_attempts(print_app, capture, clock):
    capture.reset("paper_out")
    ticket = issue(print_app)
    worker = print_app.extensions["printers"]
    for attempt in range(1, print_spool.MAX_ATTEMPTS + 1):
        assert worker.run_once() == 1
        clock.advance(print_spool.backoff_seconds(attempt))
    assert worker.run_once() == 0
    job = print_app.extensions["turnero"].store.read_one("SELECT * FROM print_jobs WHERE ticket_id = ?",
                                                        (ticket["id"],))
    assert (job["status"], job["attempts"]) == ("failed", print_spool.MAX_ATTEMPTS)


def test_stale_job_is_not_printed_late(print_app, capture, clock):
    ticket = issue(print_app)
    clock.advance(print_spool.STALE_AFTER_SECONDS + 1)
    assert print_app.extensions["printers"].run_once() == 0
    assert not capture.printed()
    assert print_app.extensions["turnero"].engine.get_ticket(ticket["id"])["print"]["status"] == "failed"


def test_silent_printer_never_blocks_ticket_issuance(tmp_path, clock, capture):
    """The worker hangs on a printer that accepts and never answers; tickets keep coming out."""
    capture.reset("silent")
    data_dir = write_sede(tmp_path / "data", printer_sede(capture.port, timeout=60))
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": True, "TESTING": True})
    box = app.extensions["turnero"]
    try:
        kiosk = box.accounts.add_device("kiosco-1", "kiosk")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {kiosk}"}
        first = client.post("/api/v1/tickets", json={"service": "ORI"}, headers=headers)
        assert first.status_code == 201
        assert capture.connected.wait(10), "the worker reached the printer"
        second = client.post("/api/v1/tickets", json={"service": "PEN"}, headers=headers)
        assert second.status_code == 201
        assert second.get_json()["print"]["status"] == "queued"
        assert capture.open_connections() == 1, "the worker was still stuck on the silent printer"
    finally:
        capture.reset("online")  # the retry and the next job find a printer that answers
        capture.drop_open()
        box.stop()
        box.store.close()


# ---------------------------------------------------------------------- reprint and staff views


def test_reprint_queues_one_job_and_prints_it(print_app, capture, tokens_for):
    tokens = tokens_for(print_app)
    client = print_app.test_client()
    staff = {"Authorization": f"Bearer {tokens['ana']}"}
    ticket = issue(print_app)
    worker = print_app.extensions["printers"]
    worker.run_once()
    capture.reset()

    response = client.post(f"/api/v1/tickets/{ticket['id']}/reprint", headers=staff)
    assert response.status_code == 200
    assert response.get_json()["ticket"]["print"]["status"] == "queued"
    again = client.post(f"/api/v1/tickets/{ticket['id']}/reprint", headers=staff)
    assert again.status_code == 200
    assert worker.run_once() == 1, "two taps on reprint make one slip"
    assert any(ticket["code"].encode() in job for job in capture.wait_jobs(1))

    kiosk = client.post(f"/api/v1/tickets/{ticket['id']}/reprint",
                        headers={"Authorization": f"Bearer {tokens['kiosk']}"})
    assert kiosk.status_code == 403
    missing = client.post("/api/v1/tickets/nope/reprint", headers=staff)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "unknown_ticket"
    unauth = client.post(f"/api/v1/tickets/{ticket['id']}/reprint")
    assert unauth.status_code == 401


def test_reprint_refused_without_printer_or_for_closed_ticket(api, app):
    ticket = api.post("/tickets", {"service": "ORI"}).get_json()
    response = api.post(f"/tickets/{ticket['id']}/reprint")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "printer_disabled"
    health = app.test_client().get("/healthz").get_json()
    assert health["printer"]["status"] == "disabled"


def test_reprint_of_finished_ticket_is_a_conflict(print_app, tokens_for):
    tokens = tokens_for(print_app)
    engine = print_app.extensions["turnero"].engine
    ticket = issue(print_app)
    engine.cancel(ticket["id"], "ana")
    response = print_app.test_client().post(f"/api/v1/tickets/{ticket['id']}/reprint",
                                            headers={"Authorization": f"Bearer {tokens['ana']}"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "wrong_state"


def test_staff_see_unprinted_tickets(print_app, capture, tokens_for):
    tokens = tokens_for(print_app)
    capture.reset("paper_out")
    ticket = issue(print_app)
    print_app.extensions["printers"].run_once()
    body = print_app.test_client().get("/api/v1/printer",
                                       headers={"Authorization": f"Bearer {tokens['ana']}"}).get_json()
    assert body["printer"]["status"] == "error" and body["printer"]["detail"] == "paper_out"
    assert [t["code"] for t in body["unprinted"]] == [ticket["code"]]


def test_reprint_is_in_the_openapi_document(api):
    paths = api.get("/openapi.json").get_json()["paths"]
    assert "post" in paths["/tickets/{ticket_id}/reprint"]
    assert "get" in paths["/printer"]


@pytest.fixture
def tokens_for():
    def make(app):
        accounts = app.extensions["turnero"].accounts
        accounts.add_user("ana", "staff", "clave-segura-123")
        return {"ana": accounts.login("ana", "clave-segura-123")["token"],
                "kiosk": accounts.add_device("kiosco-1", "kiosk")}
    return make


# ---------------------------------------------------------------------- emulated printer


def test_emulated_printer_writes_bytes_and_png_preview(tmp_path, clock):
    data_dir = write_sede(tmp_path / "data", SEDE_TOML.replace('type = "none"', 'type = "emulated"'))
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    try:
        ticket = issue(app, language="en")
        assert app.extensions["printers"].run_once() == 1
        spool = data_dir / "spool"
        raw = next(spool.glob(f"*-{ticket['code']}.bin")).read_bytes()
        app.extensions["printers"].backend.previews.wait()  # drawn by a thread of its own
        png = next(spool.glob(f"*-{ticket['code']}.png")).read_bytes()
        assert not list(spool.glob("*.layout.json")), "every layout drawn is removed"
        assert raw.startswith(ESC_INIT + CP858_SELECT) and b"Legal advice" in raw
        assert png.startswith(b"\x89PNG")
        assert app.extensions["printers"].health()["status"] == "ok"
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


@pytest.mark.parametrize("printer, words", [
    ('type = "network"', "host"),
    ('type = "usb"', "usb_vendor_id"),
    ('type = "cups"', "pycups"),
    ('type = "file"', "file_path"),
    ('type = "emulated"\nprofile = "no-such-printer"', "profile"),
    ('type = "emulated"\nprofile = "TM-U220"', "has no CP858"),  # a profile without the forced table
])
def test_setup_error_is_shown_in_health_and_fails_jobs(tmp_path, clock, printer, words):
    data_dir = write_sede(tmp_path / "data", SEDE_TOML.replace('type = "none"', printer))
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    try:
        health = app.test_client().get("/healthz").get_json()["printer"]
        assert health["status"] == "error" and words in health["detail"]
        ticket = issue(app)
        assert app.extensions["printers"].run_once() == 1
        assert app.extensions["turnero"].engine.get_ticket(ticket["id"])["print"]["status"] == "failed"
        assert app.extensions["printers"].run_once() == 0, "a setup problem is not retried"
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


def test_file_backend_writes_the_slip_to_its_device_file(tmp_path, clock):
    device = tmp_path / "lp0"
    data_dir = write_sede(tmp_path / "data", SEDE_TOML.replace(
        'type = "none"', f'type = "file"\nfile_path = "{device}"\nwidth_mm = 58\ncut = false'))
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    try:
        ticket = issue(app, "PEN")
        assert app.extensions["printers"].run_once() == 1
        data = device.read_bytes()
        assert data.startswith(ESC_INIT + CP858_SELECT) and ticket["code"].encode() in data
        assert FULL_CUT not in data, "cut = false feeds instead of cutting"
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


def test_logo_is_printed_as_a_raster_image(print_app, tmp_path):
    from escpos.printer import Dummy
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("1", (200, 60), 0).save(logo)
    box = print_app.extensions["turnero"]
    ticket = issue(print_app)
    blocks = build_layout(ticket_slip(box.settings, ticket, box.engine.clock), 80, logo=str(logo))
    printer = Dummy()
    render(blocks, printer, "CP858")
    assert b"\x1dv0" in printer.output, "GS v 0 raster image"
    assert printer.output.index(b"\x1dv0") < printer.output.index(ticket["code"].encode())


# ---------------------------------------------------------------------- an independent emulator

EMUPOS_VENV = Path(os.environ.get("TURNERO_EMUPOS_VENV", Path.home() / ".cache" / "turnero-emupos"))
EMUPOS_SCRIPT = """
import sys
from emupos.config import _load_profile
from emupos.printer.printer import Printer
from pathlib import Path
profile = _load_profile("epson-tm-t20iii", "printer", Path("."))
printer = Printer("front", profile, sensor_open_level="high", job_idle_timeout_ms=1000)
printer.open_connection("c", 0.0)
out = printer.receive("c", sys.stdin.buffer.read(), 0.0)
out = out + printer.close_connection("c", 0.0)
sys.stdout.write("\\n=====\\n".join(receipt.text for receipt in out.receipts))
"""


def emupos_python() -> Path:
    python = EMUPOS_VENV / "bin" / "python"
    if python.exists():
        return python
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    if shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
        pyenv_root = Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else pyenv_root
    candidates = sorted(pyenv_root.glob("versions/3.13.*/bin/python3.13"))
    if not candidates:
        pytest.skip("emupos needs python3.13 (none under $(pyenv root)/versions/3.13.*); skipped")
    try:
        subprocess.run([str(candidates[-1]), "-m", "venv", str(EMUPOS_VENV)], check=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "emupos"], check=True, timeout=600,
                       capture_output=True)
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"could not install emupos in its own python3.13 venv: {error}")
    return python


def test_independent_emulator_reads_the_slip(print_app, capture):
    python = emupos_python()
    ticket = issue(print_app, priority="gestante")
    print_app.extensions["printers"].run_once()
    data = [job for job in capture.wait_jobs(1) if ticket["code"].encode() in job][0]
    result = subprocess.run([str(python), "-c", EMUPOS_SCRIPT], input=data, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    text = result.stdout.decode("utf-8")
    assert ticket["code"] in text
    assert "Orientación legal" in text
    assert "ATENCIÓN PREFERENTE: Gestante" in text
    assert f"[qr {ticket['status_url']}]" in text
    assert "\n=====\n" not in text, "exactly one receipt, ended by the cut"


def test_staff_room_hears_print_outcomes(print_app, capture, tokens_for):
    """Print outcomes go to the staff-only /printer namespace; the default namespace carries only
    events with a seq (SPEC: every message there is {"seq","type","at","data"})."""
    tokens = tokens_for(print_app)
    box = print_app.extensions["turnero"]
    socketio = box.socketio
    printer = socketio.test_client(print_app, namespace="/printer", auth={"token": tokens["ana"]})
    staff = socketio.test_client(print_app, auth={"token": tokens["ana"]})
    public = socketio.test_client(print_app, auth={"public_id": "whatever"})
    try:
        assert printer.is_connected("/printer")
        capture.reset("paper_out")
        ticket = issue(print_app)
        print_app.extensions["printers"].run_once()
        box.pump.pump()
        received = {message["name"]: message["args"][0] for message in printer.get_received("/printer")}
        assert received["print.status"]["ticket_id"] == ticket["id"]
        assert received["print.status"]["print"] == {"status": "failed"}
        assert received["printer.status"]["detail"] == "paper_out"
        default = staff.get_received()
        assert [m["name"] for m in default] == ["ticket.issued"], "the staff room still hears events"
        lacking = [m for m in default if not (isinstance(m["args"][0], dict) and "seq" in m["args"][0])]
        assert not lacking, f"default-namespace messages without seq: {lacking}"
        assert all(m["name"] == m["args"][0]["type"] for m in default)
        assert not [m for m in public.get_received() if m["name"].startswith("print")]

        capture.reset("online")
        print_spool.queue_reprint(box.store, ticket["id"], "network")  # the retry is due now
        print_app.extensions["printers"].run_once()
        later = [m["args"][0] for m in printer.get_received("/printer") if m["name"] == "print.status"]
        assert later and later[-1]["print"] == {"status": "printed"}
        assert not staff.get_received(), "print outcomes never reach the default namespace"
    finally:
        printer.disconnect("/printer")
        staff.disconnect()
        public.disconnect()


def test_printer_namespace_is_for_staff_only(print_app, tokens_for):
    tokens = tokens_for(print_app)
    accounts = print_app.extensions["turnero"].accounts
    display = accounts.add_device("pantalla-1", "display")
    socketio = print_app.extensions["turnero"].socketio
    for auth in (None, {"token": "nope"}, {"token": tokens["kiosk"]}, {"token": display},
                 {"public_id": "whatever"}):
        client = socketio.test_client(print_app, namespace="/printer", auth=auth)
        assert not client.is_connected("/printer"), auth
