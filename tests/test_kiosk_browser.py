"""The kiosk in a real Chromium against a real box: every path a citizen can take."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
import requests
from playwright.sync_api import expect

from config import load_settings
from conftest import LIMA, SEDE_TOML, LiveBox, screenshot, write_sede
from escpos_capture import CaptureServer
from turnero.documents import dni_check_characters
from turnero.engine import Engine
from turnero.store import Store

MIN_TARGET_PX = 57  # 15 mm at CSS 96 px per inch
VISIBLE = ':not([hidden])'


@pytest.fixture
def kiosk(browser):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima",
                                  viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    yield page
    context.close()


def open_kiosk(page, box, token_name="kiosco-1"):
    page.goto(f"{box.url}/kiosk?device_token={box.tokens[token_name]}")
    page.wait_for_selector(f'[data-screen="start"]{VISIBLE} [data-lang="es"]')


def screen(page, name):
    page.wait_for_selector(f'[data-screen="{name}"]{VISIBLE}')


def choose_service(page, code, lang="es"):
    page.click(f'[data-lang="{lang}"]')
    screen(page, "services")
    page.wait_for_selector(f'[data-service="{code}"]')
    page.click(f'[data-service="{code}"]')


def type_keys(page, keypad, text):
    for char in text:
        page.click(f'#{keypad} [data-key="{char}"]')


def issued_ticket(page, box):
    screen(page, "ticket")
    code = page.text_content("#ticket-code")
    tickets = box.call("GET", "/queue", "sofia").json()["tickets"]
    return code, [ticket for ticket in tickets if ticket["code"] == code][-1]


def assert_large_targets(page):
    small = page.evaluate("""(min) => Array.from(document.querySelectorAll('button'))
        .filter(b => b.offsetParent !== null)
        .map(b => { const r = b.getBoundingClientRect();
                    return [b.textContent.trim().slice(0, 30), r.width, r.height]; })
        .filter(([, w, h]) => Math.min(w, h) < min)""", MIN_TARGET_PX)
    assert small == [], f"touch targets under 15 mm: {small}"


def queue_length(box):
    return len(box.call("GET", "/queue", "sofia").json()["tickets"])


# ---------------------------------------------------------------------- on the session box


def test_unpaired_browser_is_told_how_to_pair(kiosk, live_box):
    response = kiosk.goto(f"{live_box.url}/kiosk")
    assert response.status == 401
    assert "vinculado" in kiosk.text_content("h1")


def test_walk_in_ticket(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    assert_large_targets(kiosk)
    screenshot(kiosk, "kiosk-01-start")
    choose_service(kiosk, "ORI")
    screen(kiosk, "priority")
    assert "28683" in kiosk.text_content('[data-screen="priority"] .law')
    assert_large_targets(kiosk)
    screenshot(kiosk, "kiosk-03-priority")
    kiosk.click('[data-priority="none"]')
    screen(kiosk, "document")
    assert "29733" in kiosk.text_content(".privacy")
    assert_large_targets(kiosk)
    kiosk.click("#no-document")
    code, ticket = issued_ticket(kiosk, live_box)
    assert re.fullmatch(r"A-\d{3}", code)
    assert (ticket["channel"], ticket["priority"], ticket["document"]) == ("kiosk", None, None)
    assert kiosk.text_content("#ticket-service") == "Orientación legal"
    ahead = ticket["position"] - 1
    expected = "¡Usted es la siguiente persona!" if ahead == 0 else f"Personas antes de usted: {ahead}"
    assert kiosk.text_content("#ticket-ahead") == expected
    assert "Espera estimada" in kiosk.text_content("#ticket-eta")
    qr = kiosk.get_attribute("#ticket-qr", "src")
    assert qr == f"/kiosk/qr/{ticket['public_id']}.svg"
    assert kiosk.evaluate("document.getElementById('ticket-qr').naturalWidth") > 0, "the QR image loads"
    # This box has no printer: the screen says to note the code or photograph it.
    assert kiosk.get_attribute("#ticket-print", "data-print") == "disabled"
    assert "foto" in kiosk.text_content("#ticket-print")
    assert_large_targets(kiosk)
    screenshot(kiosk, "kiosk-05-ticket")
    kiosk.click("#ticket-done")
    screen(kiosk, "start")


def test_service_screen_shows_icons_descriptions_and_neutral_label(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    kiosk.click('[data-lang="es"]')
    screen(kiosk, "services")
    kiosk.wait_for_selector('[data-service="VIC"]')
    assert kiosk.locator('[data-service="ORI"] svg').count() == 1
    vic = kiosk.text_content('[data-service="VIC"]')
    assert "Atención reservada" in vic and "víctimas" not in vic
    screenshot(kiosk, "kiosk-02-services")


def test_preferential_ticket(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "ORI")
    kiosk.click('[data-priority="adulto_mayor"]')
    screen(kiosk, "document")
    kiosk.click("#no-document")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["priority"] == "adulto_mayor"
    assert kiosk.is_visible("#ticket-priority")
    assert "Tengo 60 años o más" in kiosk.text_content("#ticket-priority")
    screenshot(kiosk, "kiosk-06-preferential")


def test_dni_with_valid_check_character(kiosk, live_box):
    number = "40718236"
    check = dni_check_characters(number)[1]
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    screen(kiosk, "document")
    type_keys(kiosk, "doc-keypad", number)
    # After 8 digits the keypad moves to the check character, which may be a letter.
    type_keys(kiosk, "doc-keypad", check)
    assert kiosk.text_content("#doc-number-value") == number
    assert kiosk.text_content("#doc-check-value") == check
    screenshot(kiosk, "kiosk-04-document")
    kiosk.click("#doc-continue")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["document"] == {"type": "DNI", "number": number}


def test_dni_with_wrong_check_character_is_caught_on_the_spot(kiosk, live_box):
    number = "40718236"
    wrong = next(c for c in "0123456789" if c not in dni_check_characters(number))
    before = queue_length(live_box)
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    screen(kiosk, "document")
    type_keys(kiosk, "doc-keypad", number + wrong)
    kiosk.click("#doc-continue")
    assert "verificación no corresponde" in kiosk.text_content("#doc-error")
    assert kiosk.is_visible('[data-screen="document"]')
    screenshot(kiosk, "kiosk-04b-dni-invalid")
    # Short numbers are refused too, and fixing the entry lets the person go on.
    kiosk.click('#doc-keypad [data-key="delete"]')
    kiosk.click("#doc-number")
    kiosk.click('#doc-keypad [data-key="delete"]')
    kiosk.click("#doc-continue")
    assert "8 números" in kiosk.text_content("#doc-error")
    assert queue_length(live_box) == before, "no ticket was issued for an invalid document"


def test_other_document_type_uses_letter_keypad(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    screen(kiosk, "document")
    kiosk.click('[data-doc="CE"]')
    assert kiosk.get_attribute('[data-doc="CE"]', "aria-pressed") == "true"
    assert not kiosk.is_visible("#doc-check")
    type_keys(kiosk, "doc-keypad", "AB12")
    kiosk.click("#doc-continue")
    assert "8 a 12" in kiosk.text_content("#doc-error")
    type_keys(kiosk, "doc-keypad", "3456")
    kiosk.click("#doc-continue")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["document"] == {"type": "CE", "number": "AB123456"}


def test_appointment_check_in(kiosk, live_box):
    number = "09876543"
    appointment_id = f"CITA-{datetime.now().strftime('%H%M%S%f')}"
    settings = load_settings(live_box.data_dir, {})
    store = Store.in_data_dir(live_box.data_dir)
    try:
        Engine(store, settings).upsert_appointment({
            "id": appointment_id, "service": "ORI", "starts_at": datetime.now(LIMA).isoformat(),
            "document": {"type": "DNI", "number": number}, "name": "Rosa Quispe", "status": "booked"})
    finally:
        store.close()
    open_kiosk(kiosk, live_box)
    kiosk.click('[data-lang="es"]')
    screen(kiosk, "services")
    kiosk.click("#to-appointment")
    screen(kiosk, "appointment")
    type_keys(kiosk, "appointment-keypad", "11111111")
    kiosk.click("#appointment-search")
    expect(kiosk.locator("#appointment-error")).to_contain_text("No encontramos citas")
    for _ in range(8):
        kiosk.click('#appointment-keypad [data-key="delete"]')
    type_keys(kiosk, "appointment-keypad", number)
    kiosk.click("#appointment-search")
    kiosk.wait_for_selector(f'[data-appointment="{appointment_id}"]')
    screenshot(kiosk, "kiosk-07-appointment")
    kiosk.click(f'[data-appointment="{appointment_id}"]')
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["channel"] == "appointment" and ticket["appointment"] == appointment_id
    assert "Rosa" not in kiosk.content(), "the kiosk never shows the person's name"
    screenshot(kiosk, "kiosk-08-appointment-ticket")


def test_appointment_code_that_does_not_exist(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    kiosk.click('[data-lang="es"]')
    screen(kiosk, "services")
    kiosk.click("#to-appointment")
    kiosk.click("#appointment-mode")
    type_keys(kiosk, "appointment-keypad", "ZZ9")
    kiosk.click("#appointment-search")
    screen(kiosk, "error")
    assert "No encontramos esa cita" in kiosk.text_content('[data-screen="error"] h1')


def half_typed_document(kiosk, live_box):
    """A person who chose a service and began typing a document, on a kiosk whose clock the test
    moves."""
    kiosk.clock.install()
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    screen(kiosk, "document")
    type_keys(kiosk, "doc-keypad", "1234")


def test_more_time_keeps_the_entry(kiosk, live_box):
    half_typed_document(kiosk, live_box)
    kiosk.clock.fast_forward(31_000)
    kiosk.wait_for_selector("#timeout-warning:not([hidden])")
    kiosk.click("#timeout-continue")
    assert kiosk.is_hidden("#timeout-warning")
    kiosk.clock.fast_forward(25_000)  # the clock starts again from the tap
    assert kiosk.is_visible('[data-screen="document"]')
    assert kiosk.text_content("#doc-number-value") != "—"
    kiosk.clock.fast_forward(6_000)
    kiosk.wait_for_selector("#timeout-warning:not([hidden])")
    kiosk.click("#timeout-leave")
    screen(kiosk, "start")


def test_only_languages_with_a_kiosk_catalog_are_offered(kiosk, live_box):
    """The test sede enables es, qu and en; Quechua has no catalog yet, so the kiosk does not offer it
    (a person choosing Runasimi would get Spanish)."""
    open_kiosk(kiosk, live_box)
    offered = kiosk.eval_on_selector_all("#languages [data-lang]", "nodes => nodes.map(n => n.dataset.lang)")
    assert offered == ["es", "en"]


def test_english_kiosk_translates_and_sets_lang(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "ORI", lang="en")
    screen(kiosk, "priority")
    assert kiosk.evaluate("document.documentElement.lang") == "en"
    assert kiosk.text_content("#h-priority") == "Priority service?"
    kiosk.click('[data-priority="none"]')
    kiosk.click("#no-document")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["language"] == "en"
    assert kiosk.text_content("#ticket-service") == "Legal advice"


def test_inactivity_returns_to_start_and_forgets_the_entry(kiosk, live_box):
    half_typed_document(kiosk, live_box)
    kiosk.clock.fast_forward(20_000)
    assert kiosk.is_visible('[data-screen="document"]'), "not before the configured 30 s"
    assert kiosk.is_hidden("#timeout-warning")
    kiosk.clock.fast_forward(11_000)
    # WCAG 2.2.1: a warning first, with 20 s to keep the entry by one tap
    kiosk.wait_for_selector("#timeout-warning:not([hidden])")
    assert "20 segundos" in kiosk.text_content("#timeout-text")
    assert kiosk.evaluate("document.activeElement.id") == "timeout-continue"
    kiosk.clock.fast_forward(10_000)
    assert kiosk.is_visible('[data-screen="document"]')
    kiosk.clock.fast_forward(11_000)
    screen(kiosk, "start")
    assert kiosk.is_hidden("#timeout-warning")
    screenshot(kiosk, "kiosk-09-inactivity-reset")
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    screen(kiosk, "document")
    assert kiosk.text_content("#doc-number-value") == "—"


def test_one_tap_is_one_ticket_even_when_the_answer_is_lost(kiosk, live_box):
    """The first answer never reaches the kiosk; its retry carries the same key and gets the same ticket."""
    seen = {"keys": [], "codes": []}

    def lose_first_answer(route):
        seen["keys"].append(route.request.headers.get("idempotency-key"))
        response = route.fetch()
        seen["codes"].append(response.json()["code"])
        if len(seen["keys"]) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    before = queue_length(live_box)
    open_kiosk(kiosk, live_box)
    kiosk.route("**/api/v1/tickets", lose_first_answer)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    kiosk.click("#no-document")
    code, ticket = issued_ticket(kiosk, live_box)
    assert len(seen["keys"]) == 2 and seen["keys"][0] == seen["keys"][1] and seen["keys"][0]
    assert seen["codes"] == [code, code]
    assert queue_length(live_box) == before + 1


def test_rate_limited_kiosk_says_to_wait(kiosk, live_box):
    kiosk.route("**/api/v1/tickets", lambda route: route.fulfill(
        status=429, content_type="application/json",
        body='{"error": {"code": "rate_limited", "message": "Demasiadas solicitudes"}}'))
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "ORI")
    kiosk.click('[data-priority="none"]')
    kiosk.click("#no-document")
    screen(kiosk, "error")
    assert "Espere un momento" in kiosk.text_content('[data-screen="error"] h1')
    kiosk.click('[data-screen="error"] [data-go="start"]')
    screen(kiosk, "start")


# ---------------------------------------------------------------------- on a box with a printer


@pytest.fixture(scope="module")
def printer_box(tmp_path_factory):
    capture = CaptureServer()
    text = SEDE_TOML.replace('[printer]\ntype = "none"',
                             f'[printer]\ntype = "network"\nhost = "127.0.0.1"\nport = {capture.port}\n'
                             'timeout_seconds = 0.5')
    text = text.replace("[[counters]]", '[[services]]\ncode = "CAP"\nprefix = "K"\n'
                        'names = { es = "Medicina forense" }\nicon = "heart"\ndaily_cap = 1\n\n[[counters]]', 1)
    data_dir = write_sede(tmp_path_factory.mktemp("printerbox") / "data", text)
    box = LiveBox(data_dir, env={"TURNERO_KIOSK_RATE_PER_MINUTE": "600"}).prepare().start()
    box.capture = capture
    yield box
    box.stop()
    capture.close()


def test_printed_ticket_path(kiosk, printer_box):
    capture = printer_box.capture
    capture.drop_open()
    capture.reset("online")
    open_kiosk(kiosk, printer_box)
    choose_service(kiosk, "ORI")
    kiosk.click('[data-priority="gestante"]')
    kiosk.click("#no-document")
    screen(kiosk, "ticket")
    code = kiosk.text_content("#ticket-code")
    kiosk.wait_for_selector('#ticket-print[data-print="printed"]')
    assert "Retire su ticket" in kiosk.text_content("#ticket-print")
    slips = [job for job in capture.wait_jobs(1) if code.encode() in job]
    assert len(slips) == 1
    assert b"\x1bt\x13" in slips[0] and "Orientación".encode("cp858") in slips[0]
    screenshot(kiosk, "kiosk-10-printed")


def test_printer_down_still_gives_the_ticket(kiosk, printer_box):
    capture = printer_box.capture
    capture.reset("paper_out")
    open_kiosk(kiosk, printer_box)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    kiosk.click("#no-document")
    screen(kiosk, "ticket")
    kiosk.wait_for_selector('#ticket-print[data-print="failed"]')
    assert "Anote su código" in kiosk.text_content("#ticket-print")
    assert kiosk.is_visible("#ticket-qr") and re.fullmatch(r"B-\d{3}", kiosk.text_content("#ticket-code"))
    screenshot(kiosk, "kiosk-11-printer-down")
    health = requests.get(printer_box.url + "/healthz", timeout=10).json()
    assert health["printer"]["status"] == "error" and health["printer"]["detail"] == "paper_out"
    unprinted = printer_box.call("GET", "/printer", "ana").json()["unprinted"]
    assert kiosk.text_content("#ticket-code") in [ticket["code"] for ticket in unprinted]
    capture.reset("online")


def test_closed_service_is_shown_unavailable_with_its_reason(kiosk, printer_box):
    services = {s["code"]: s for s in printer_box.call("GET", "/services", "ana").json()["services"]}
    if services["CAP"]["open"]:
        assert printer_box.call("POST", "/tickets", "ana", json={"service": "CAP"}).status_code == 201
    open_kiosk(kiosk, printer_box)
    kiosk.click('[data-lang="es"]')
    screen(kiosk, "services")
    kiosk.wait_for_selector('[data-service="CAP"][aria-disabled="true"]')
    expect(kiosk.locator('[data-service="CAP"]')).to_contain_text("ya no hay turnos hoy")
    con = printer_box.call("GET", "/services", "ana").json()["services"]
    reasons = {s["code"]: s["closed_reason"] for s in con}
    if reasons["CON"] == "closed":  # outside 08:00-17:00 Lima time
        assert "cerrado a esta hora" in kiosk.text_content('[data-service="CON"]')
    screenshot(kiosk, "kiosk-12-closed-service")
    kiosk.locator('[data-service="CAP"]').click(force=True)
    assert kiosk.is_visible('[data-screen="services"]'), "an unavailable service cannot be chosen"


def test_kiosk_keeps_its_tap_through_a_box_restart(kiosk, printer_box):
    before = len(printer_box.call("GET", "/queue?service=PEN", "ana").json()["tickets"])
    open_kiosk(kiosk, printer_box)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="none"]')
    screen(kiosk, "document")
    printer_box.kill()
    kiosk.click("#no-document")
    kiosk.wait_for_selector("#issuing-status:has-text('Reconectando')")
    assert kiosk.is_visible("#offline")
    screenshot(kiosk, "kiosk-13-reconnecting")
    printer_box.start()
    screen(kiosk, "ticket")
    after = printer_box.call("GET", "/queue?service=PEN", "ana").json()["tickets"]
    assert len(after) == before + 1
    assert kiosk.text_content("#ticket-code") == after[-1]["code"]
