"""The console's tools beyond calling: the printer panel (state, unprinted tickets, reprint), the
class of a waiting ticket (urgente moves it ahead), and issuing a ticket for a person who cannot
use the kiosk. Real Chromium against real servers; errors are shown in Spanish."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import LiveBox, screenshot, wait_for, write_sede
from tests.escpos_capture import CaptureServer
from tests.test_counter_day import open_counter, staff_page
from tests.test_printing import printer_sede
from turnero.documents import dni_check_characters
from turnero.store import Store


def cancel(box, *tickets):
    """Leave the shared box as we found it: nothing of ours waits to be called by another test."""
    for ticket in tickets:
        box.call("POST", f"/tickets/{ticket['id']}/cancel", "sofia", json={"reason": "fin de la prueba"})


def row_codes(page) -> list[str]:
    return page.eval_on_selector_all("#waiting-body tr", "rows => rows.map(r => r.dataset.code)")


# ---------------------------------------------------------------------- class of a waiting ticket


def test_urgent_class_moves_the_ticket_to_the_head_of_the_waiting_list(browser, live_box):
    box = live_box
    box.release("v1")
    first = box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI"}).json()
    victim = box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI"}).json()
    page = staff_page(browser, box, "ana", "/counter")
    try:
        open_counter(page, "v1")
        page.wait_for_selector(f"#waiting-body tr[data-code='{victim['code']}']")
        codes = row_codes(page)
        assert codes.index(first["code"]) < codes.index(victim["code"])

        page.get_by_role("button", name=f"Cambiar la clase del turno {victim['code']}").click()
        dialog = page.get_by_role("dialog", name=f"Clase del turno {victim['code']}")
        expect(dialog).to_be_visible()
        expect(page.get_by_label("Normal")).to_be_checked()
        assert page.evaluate("document.activeElement.id") == "class-opt-normal", "focus goes into the dialog"
        page.get_by_label("Urgente").check()
        screenshot(page, "console-class-dialog")
        page.get_by_role("button", name="Guardar").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#info")).to_have_text(f"El turno {victim['code']} ahora es de clase «Urgente».")
        row = page.locator(f"#waiting-body tr[data-code='{victim['code']}']")
        expect(row.locator(".class-cell")).to_have_text("Urgente")

        def ahead():
            codes = row_codes(page)
            classes = page.eval_on_selector_all("#waiting-body tr .class-cell", "s => s.map(x => x.textContent)")
            mine = codes.index(victim["code"])
            return all(label == "Urgente" for label in classes[:mine]) and mine < codes.index(first["code"])
        assert wait_for(ahead, 5), row_codes(page)
        assert box.call("GET", f"/tickets/{victim['id']}").json()["priority"] == "urgente"
        assert page.evaluate("document.activeElement.dataset.classFor") == victim["id"], "focus returns to the row"
        screenshot(page, "console-urgent")

        # A ticket called meanwhile by another counter: the server's refusal, in Spanish, in the dialog.
        page.get_by_role("button", name=f"Cambiar la clase del turno {first['code']}").click()
        box.release("v2")
        box.call("POST", "/counters/v2/open", "beto").raise_for_status()
        box.call("POST", f"/tickets/{first['id']}/call", "beto", json={"counter": "v2"}).raise_for_status()
        page.get_by_label("Adulto mayor").check()
        page.get_by_role("button", name="Guardar").click()
        expect(page.locator("#class-error")).to_have_text(f"El turno {first['code']} está llamado por Ventanilla 2.")
        page.get_by_role("button", name="Cancelar").click()
        expect(page.locator("#class-dialog")).to_be_hidden()
    finally:
        page.context.close()
        box.release("v2")
        box.release("v1")
        cancel(box, first, victim)


# ---------------------------------------------------------------------- issuing from the console


def test_staff_issue_a_ticket_from_the_console(browser, live_box):
    box = live_box
    page = staff_page(browser, box, "ana", "/counter")
    issued = []
    try:
        expect(page.locator("#printer-state")).to_have_text("Sin impresora")
        expect(page.locator("#printer-detail")).to_have_text("Esta sede no tiene impresora configurada.")
        assert page.is_hidden("#printer-badge") and page.is_hidden("#unprinted-block")

        page.get_by_label("Servicio", exact=True).select_option("PEN")
        page.get_by_label("Clase", exact=True).select_option("urgente")
        page.get_by_label("Tipo de documento").select_option("DNI")
        page.get_by_role("button", name="Emitir turno").click()
        expect(page.locator("#issue-error")).to_have_text("Escriba el número del documento o elija «Sin documento».")
        expect(page.get_by_label("Número de documento")).to_be_focused()
        expect(page.get_by_label("Número de documento")).to_have_attribute("aria-invalid", "true")

        number = "41725839"
        digit, letter = dni_check_characters(number)
        wrong = next(c for c in "0123456789" if c not in (digit, letter))
        page.get_by_label("Número de documento").fill(number)
        page.get_by_label("Dígito de verificación del DNI (opcional)").fill(wrong)
        page.get_by_label("Nombre (opcional)").fill("Rosa Quispe")
        page.get_by_role("button", name="Emitir turno").click()
        expect(page.locator("#issue-error")).to_have_text("El carácter de verificación del DNI no corresponde.")

        page.get_by_label("Dígito de verificación del DNI (opcional)").fill(digit)
        page.get_by_role("button", name="Emitir turno").click()
        expect(page.locator("#issue-error")).to_be_empty()
        code = page.locator("#issue-code")
        expect(code).to_have_text(re.compile(r"^B-\d{3,}$"))
        expect(page.locator("#issue-print")).to_have_text("sin impresora")
        ticket = next(t for t in box.call("GET", "/tickets?status=waiting").json()["tickets"]
                      if t["code"] == code.inner_text())
        issued.append(ticket)
        assert (ticket["channel"], ticket["priority"], ticket["service"]) == ("staff", "urgente", "PEN")
        assert ticket["document"] == {"type": "DNI", "number": number} and ticket["name"] == "Rosa Quispe"
        assert page.input_value("#issue-doc-number") == "" and page.input_value("#issue-name") == ""
        expect(page.get_by_label("Número de documento")).not_to_have_attribute("aria-invalid", "true")
        screenshot(page, "console-issue")
    finally:
        page.context.close()
        cancel(box, *issued)


# ---------------------------------------------------------------------- the printer panel


@pytest.fixture(scope="module")
def printer_box(tmp_path_factory):
    """A box of its own with a network printer (a fake one on 127.0.0.1 we can starve of paper)."""
    capture = CaptureServer()
    data_dir = write_sede(tmp_path_factory.mktemp("printer-console") / "data", printer_sede(capture.port))
    box = LiveBox(data_dir).prepare().start()
    box.capture = capture
    yield box
    box.stop()
    capture.close()


def give_up(box, ticket_id) -> bool:
    """Settle the ticket's job as failed for good, as after its last retry (never while printing)."""
    store = Store.in_data_dir(box.data_dir)
    try:
        with store.write() as tx:
            tx.execute("UPDATE print_jobs SET status = 'failed' WHERE ticket_id = ? AND status = 'queued'",
                       (ticket_id,))
            job = tx.one("SELECT status FROM print_jobs WHERE ticket_id = ? ORDER BY id DESC LIMIT 1", (ticket_id,))
        return job["status"] == "failed"
    finally:
        store.close()


def test_printer_panel_shows_a_failed_print_and_reprints_it(browser, printer_box):
    box, capture = printer_box, printer_box.capture
    capture.reset("paper_out")
    page = staff_page(browser, box, "ana", "/counter")
    try:
        # Issued from the console: the slip cannot print, and the console says so as it happens.
        page.get_by_label("Servicio", exact=True).select_option("ORI")
        page.get_by_role("button", name="Emitir turno").click()
        code = page.locator("#issue-code")
        expect(code).not_to_be_empty()
        code = code.inner_text()
        expect(page.locator("#issue-print")).to_have_text("no se imprimió; puede reimprimirlo en «Impresora»")
        expect(page.locator("#printer-state")).to_have_text("Sin papel")
        expect(page.locator("#printer-state")).to_have_attribute("role", "status")
        expect(page.locator("#printer-badge")).to_have_text("Impresora: Sin papel")
        row = page.locator(f"#unprinted-body tr[data-code='{code}']")
        expect(row).to_be_visible()
        expect(row).to_contain_text("En espera")
        expect(page.locator("#printer-news")).to_have_text(f"No se imprimió el turno {code} (Sin papel).")
        screenshot(page, "console-printer-failed")

        ticket = next(t for t in box.call("GET", "/tickets?status=waiting").json()["tickets"] if t["code"] == code)
        assert wait_for(lambda: give_up(box, ticket["id"]), 10), "the retries were given up"
        capture.reset("online")
        printed_before = len(capture.jobs)
        button = page.get_by_role("button", name=f"Reimprimir el turno {code}")
        button.click()
        expect(row).to_have_count(0)
        expect(page.locator("#printer-news")).to_have_text(f"Se imprimió el turno {code}.")
        expect(page.locator("#printer-state")).to_have_text("Lista")
        expect(page.locator("#issue-print")).to_have_text("impreso")
        expect(page.locator("#unprinted-empty")).to_be_visible()
        assert wait_for(lambda: any(code.encode() in job for job in capture.jobs[printed_before:]), 5)
        assert box.call("GET", f"/tickets/{ticket['id']}").json()["print"] == {"status": "printed"}
    finally:
        capture.reset("online")
        page.context.close()
