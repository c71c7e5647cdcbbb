"""The console on its own: personal data for staff, Spanish errors, keyboard, and catching up
after the box restarts (Socket.IO reconnects; the page refetches what it missed)."""
from __future__ import annotations

import pytest

from tests.conftest import LiveBox, write_sede
from tests.test_counter_day import in_hand, open_counter, staff_page


@pytest.fixture(scope="module")
def console_box(tmp_path_factory):
    data_dir = write_sede(tmp_path_factory.mktemp("console") / "data")
    box = LiveBox(data_dir).prepare().start()
    yield box
    box.stop()


def test_staff_see_document_and_name_and_errors_in_spanish(browser, console_box):
    box = console_box
    issued = box.call("POST", "/tickets", "ana", json={
        "service": "PEN", "document": {"type": "DNI", "number": "12345678"}, "name": "Rosa Quispe"}).json()
    page = staff_page(browser, box, "ana", "/counter", live=False)
    try:
        open_counter(page, "v1")
        row = page.wait_for_selector(f"#waiting-body tr[data-code='{issued['code']}']")
        assert "DNI 12345678 · Rosa Quispe" in row.inner_text()
        # Without live updates the row is stale: beto calls the ticket first, then ana clicks it.
        box.call("POST", "/counters/v2/open", "beto", json={"services": ["PEN"]})
        assert box.call("POST", f"/tickets/{issued['id']}/call", "beto", json={"counter": "v2"}).status_code == 200
        page.click(f"#waiting-body tr[data-code='{issued['code']}'] button")
        page.wait_for_selector(f"#message >> text=El turno {issued['code']} está llamado por Ventanilla 2.")
        assert page.is_hidden("#ticket-detail")
        # Keys typed into a text field are text, not shortcuts.
        page.fill("#pause-reason", "")
        page.press("#pause-reason", "n")
        assert page.input_value("#pause-reason") == "n"
        assert page.is_hidden("#ticket-detail")
        # An empty pause reason is refused on the page before reaching the API.
        page.fill("#pause-reason", " ")
        page.click("#pause")
        page.wait_for_selector("#message >> text=Indique el motivo.")
    finally:
        page.context.close()
        box.call("POST", f"/tickets/{issued['id']}/return", "beto")
        box.call("POST", "/counters/v2/close", "beto")


def test_the_console_catches_up_after_the_box_restarts(browser, console_box):
    box = console_box
    page = staff_page(browser, box, "ana", "/counter")
    try:
        open_counter(page, "v1")
        box.kill()
        page.wait_for_selector("#connection.offline", timeout=20000)
        box.start()
        missed = box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI"}).json()
        page.wait_for_selector("#connection:not(.offline)", timeout=30000)
        page.wait_for_selector(f"#waiting-body tr[data-code='{missed['code']}']", timeout=30000)
        page.keyboard.press("n")
        assert in_hand(page) in {row["code"] for row in box.call("GET", "/tickets?status=called").json()["tickets"]}
    finally:
        page.context.close()
