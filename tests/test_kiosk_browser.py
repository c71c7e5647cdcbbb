"""The kiosk in a real Chromium against a real box: every path a citizen can take."""
from __future__ import annotations

import json
import re
import tomllib
from datetime import datetime

import pytest
import requests
from playwright.sync_api import expect

from config import load_settings
from conftest import LIMA, ROOT, SEDE_TOML, LiveBox, screenshot, write_sede
from escpos_capture import CaptureServer
from turnero.documents import dni_check_characters
from turnero.engine import Engine
from turnero.store import Store

MIN_TARGET_PX = 57  # 15 mm at CSS 96 px per inch
VISIBLE = ':not([hidden])'
MORE_TIME = "¿Necesita más tiempo?"
COMPLAINTS_URL = "https://reclamos.servicios.gob.pe/"


@pytest.fixture
def kiosk(browser):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima", viewport={"width": 1920, "height": 1080})
    yield context.new_page()
    context.close()


def open_kiosk(page, box, token_name="kiosco-1"):
    page.goto(f"{box.url}/kiosk?device_token={box.tokens[token_name]}")
    page.wait_for_selector(f'[data-screen="start"]{VISIBLE} [data-service="ORI"]')


def screen(page, name):
    page.wait_for_selector(f'[data-screen="{name}"]{VISIBLE}')


def choose_service(page, code, lang="es"):
    if lang != "es":
        page.click(f'[data-lang="{lang}"]')
    page.click(f'[data-service="{code}"]')
    screen(page, "confirm")


def add_document(page):
    page.click("#add-document")
    screen(page, "document")


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


def book_appointment(box, appointment_id, number="09876543", service="ORI"):
    settings = load_settings(box.data_dir, {})
    store = Store.in_data_dir(box.data_dir)
    try:
        Engine(store, settings).upsert_appointment({
            "id": appointment_id, "service": service, "starts_at": datetime.now(LIMA).isoformat(),
            "document": {"type": "DNI", "number": number}, "name": "Rosa Quispe", "status": "booked"})
    finally:
        store.close()


# ---------------------------------------------------------------------- on the session box


def test_unpaired_browser_is_told_how_to_pair(kiosk, live_box):
    assert kiosk.goto(f"{live_box.url}/kiosk").status == 401
    assert "vinculado" in kiosk.text_content("h1")


def test_walk_in_ticket_takes_two_taps(kiosk, live_box):
    kiosk.add_init_script("window.taps = 0; document.addEventListener('click', e => { if (e.isTrusted) taps++; }, true);")
    open_kiosk(kiosk, live_box)
    screenshot(kiosk, "kiosk-01-start")
    kiosk.click('[data-service="ORI"]')
    screen(kiosk, "confirm")
    assert kiosk.text_content("#confirm-service") == "Orientación legal"
    assert "28683" in kiosk.text_content('[data-screen="confirm"] .law')
    assert kiosk.is_visible("#add-document")
    screenshot(kiosk, "kiosk-03-confirm")
    kiosk.click("#take-ticket")
    code, ticket = issued_ticket(kiosk, live_box)
    assert kiosk.evaluate("window.taps") == 2, "a walk-in takes a ticket in two taps from the start screen"
    assert re.fullmatch(r"A-\d{3}", code)
    assert (ticket["channel"], ticket["priority"], ticket["document"]) == ("kiosk", None, None)
    assert kiosk.text_content("#ticket-service") == "Orientación legal"
    ahead = ticket["position"] - 1
    expected = "¡Usted es la siguiente persona!" if ahead == 0 else f"Personas antes de usted: {ahead}"
    assert kiosk.text_content("#ticket-ahead") == expected
    assert "Espera estimada" in kiosk.text_content("#ticket-eta")
    assert kiosk.get_attribute("#ticket-qr", "src") == f"/kiosk/qr/{ticket['public_id']}.svg"
    expect(kiosk.locator("#ticket-qr")).to_have_js_property("complete", True)
    assert kiosk.evaluate("document.getElementById('ticket-qr').naturalWidth") > 0, "the QR image loads"
    # This box has no printer: the screen says to note the code or photograph it.
    assert kiosk.get_attribute("#ticket-print", "data-print") == "disabled"
    assert "foto" in kiosk.text_content("#ticket-print")
    assert "vuelve al inicio" in kiosk.text_content("#ticket-returning")
    screenshot(kiosk, "kiosk-05-ticket")
    kiosk.click("#ticket-done")  # "Listo" returns at once
    screen(kiosk, "start")


def test_service_screen_shows_icons_descriptions_and_neutral_label(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    assert kiosk.locator('[data-service="ORI"] svg').count() == 1
    vic = kiosk.text_content('[data-service="VIC"]')
    assert "Atención reservada" in vic and "víctimas" not in vic
    assert kiosk.is_visible("#to-appointment")
    # This sede has no Libro de Reclamaciones address: nothing about it shows.
    assert kiosk.locator(".complaints").count() == 0 and "Reclamaciones" not in kiosk.inner_text("body")
    screenshot(kiosk, "kiosk-02-services")


def test_preferential_ticket(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "ORI")
    assert kiosk.eval_on_selector_all("#priorities [data-priority]", "ns => ns.map(n => n.dataset.priority)") \
        == ["gestante", "adulto_mayor", "discapacidad", "con_infante"], "the kiosk never offers 'urgente'"
    kiosk.click('[data-priority="gestante"]')
    kiosk.click('[data-priority="gestante"]')  # a second tap undoes a mistaken choice
    assert kiosk.get_attribute('[data-priority="gestante"]', "aria-pressed") == "false"
    kiosk.click('[data-priority="adulto_mayor"]')
    assert kiosk.get_attribute('[data-priority="adulto_mayor"]', "aria-pressed") == "true"
    assert "Tengo 60 años o más" in kiosk.text_content("#confirm-priority")
    screenshot(kiosk, "kiosk-03b-preferential-chosen")
    kiosk.click("#take-ticket")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["priority"] == "adulto_mayor" and "Tengo 60 años o más" in kiosk.text_content("#ticket-priority")
    screenshot(kiosk, "kiosk-06-preferential")


def test_dni_with_valid_check_character_and_preference(kiosk, live_box):
    number, check = "40718236", dni_check_characters("40718236")[1]
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    kiosk.click('[data-priority="discapacidad"]')
    add_document(kiosk)
    assert "29733" in kiosk.text_content(".privacy")
    type_keys(kiosk, "doc-keypad", number)
    # After 8 digits the keypad moves to the check character, which may be a letter.
    type_keys(kiosk, "doc-keypad", check)
    assert (kiosk.text_content("#doc-number-value"), kiosk.text_content("#doc-check-value")) == (number, check)
    screenshot(kiosk, "kiosk-04-document")
    kiosk.click("#doc-continue")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["document"] == {"type": "DNI", "number": number}
    assert ticket["priority"] == "discapacidad", "the preference chosen before the document is kept"


def test_dni_with_wrong_check_character_is_caught_on_the_spot(kiosk, live_box):
    number = "40718236"
    wrong = next(c for c in "0123456789" if c not in dni_check_characters(number))
    before = queue_length(live_box)
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    add_document(kiosk)
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
    kiosk.click('[data-screen="document"] [data-go="confirm"]')  # back keeps the chosen service
    screen(kiosk, "confirm")
    assert kiosk.text_content("#confirm-service") == "Defensa penal"


def keyboard_rows(page, keypad):
    """The letter rows of an on-screen keyboard, as laid out on the screen (by each key's top)."""
    return page.evaluate("""(id) => { const rows = {}; document.querySelectorAll('#' + id + ' [data-key]')
            .forEach(k => (rows[Math.round(k.getBoundingClientRect().top)] ||= []).push(k.dataset.key));
        return Object.keys(rows).map(Number).sort((a, b) => a - b).map(t => rows[t].join(' ')); }""", keypad)


def test_other_document_type_uses_a_qwerty_keyboard(kiosk, live_box):
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    add_document(kiosk)
    kiosk.click('[data-doc="CE"]')
    assert kiosk.get_attribute('[data-doc="CE"]', "aria-pressed") == "true"
    assert not kiosk.is_visible("#doc-check")
    assert keyboard_rows(kiosk, "doc-keypad") == ["1 2 3 4 5 6 7 8 9 0", "Q W E R T Y U I O P",
                                                  "A S D F G H J K L Ñ", "Z X C V B N M delete"]
    screenshot(kiosk, "kiosk-04c-other-document")
    type_keys(kiosk, "doc-keypad", "AB12")
    kiosk.click("#doc-continue")
    assert "8 a 12" in kiosk.text_content("#doc-error")
    type_keys(kiosk, "doc-keypad", "Ñ567")
    assert kiosk.text_content("#doc-number-value") == "AB12Ñ567"
    kiosk.click("#doc-continue")
    assert "sin Ñ" in kiosk.text_content("#doc-error"), "identity documents have no Ñ: said on the spot"
    for _ in range(4):
        kiosk.click('#doc-keypad [data-key="delete"]')
    type_keys(kiosk, "doc-keypad", "3456")
    kiosk.click("#doc-continue")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["document"] == {"type": "CE", "number": "AB123456"}


def open_appointment(kiosk, box):
    open_kiosk(kiosk, box)
    kiosk.click("#to-appointment")


def test_appointment_check_in_by_dni(kiosk, live_box):
    number = "09876543"
    appointment_id = f"CITA-{datetime.now().strftime('%H%M%S%f')}"
    book_appointment(live_box, appointment_id, number)
    open_appointment(kiosk, live_box)
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


def test_appointment_check_in_by_code_typed_with_a_hyphen(kiosk, live_box):
    appointment_id = f"CT-{datetime.now().strftime('%H%M%S')}"
    book_appointment(live_box, appointment_id, "07654321")
    lookups = []
    kiosk.on("request", lambda request: lookups.append((request.url, request.headers.get("x-turnero-device")))
             if "/api/v1/appointments" in request.url else None)
    before = queue_length(live_box)
    open_appointment(kiosk, live_box)
    assert keyboard_rows(kiosk, "appointment-keypad")[-1] == "Z X C V B N M - delete"
    type_keys(kiosk, "appointment-keypad", "ZZ-9")  # no such code: said, and the entry can be fixed
    kiosk.click("#appointment-search")
    expect(kiosk.locator("#appointment-error")).to_contain_text("No encontramos citas")
    assert kiosk.is_visible("#appointment-keypad") and queue_length(live_box) == before
    for _ in range(4):
        kiosk.click('#appointment-keypad [data-key="delete"]')
    type_keys(kiosk, "appointment-keypad", appointment_id)
    assert kiosk.text_content("#appointment-value") == appointment_id
    screenshot(kiosk, "kiosk-07b-appointment-code")
    kiosk.click("#appointment-search")
    kiosk.click(f'[data-appointment="{appointment_id}"]')
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["channel"] == "appointment" and ticket["appointment"] == appointment_id
    assert lookups and all("code=" in url and device == "kiosk" for url, device in lookups)


def half_typed_document(kiosk, live_box):
    """A person who chose a service and began typing a document, on a kiosk whose clock moves."""
    kiosk.clock.install()
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "PEN")
    add_document(kiosk)
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


def test_ticket_screen_returns_to_the_start_after_12_s_without_asking(kiosk, live_box):
    kiosk.clock.install()
    open_kiosk(kiosk, live_box)
    choose_service(kiosk, "ORI")
    kiosk.click("#take-ticket")
    screen(kiosk, "ticket")
    kiosk.clock.fast_forward(9_000)
    assert kiosk.is_visible('[data-screen="ticket"]'), "the ticket stays long enough to read"
    assert "3 s" in kiosk.text_content("#ticket-returning")
    assert kiosk.is_hidden("#timeout-warning")
    kiosk.clock.fast_forward(3_500)
    screen(kiosk, "start")
    # Nobody touches the kiosk: the next person is never greeted by "more time?".
    kiosk.clock.fast_forward(120_000)
    assert kiosk.is_hidden("#timeout-warning") and kiosk.is_visible('[data-screen="start"]')
    assert MORE_TIME not in kiosk.inner_text("body")


def test_english_kiosk_translates_and_sets_lang(kiosk, live_box):
    """The test sede enables es, qu and en; Quechua has no catalog yet, so the kiosk does not offer it
    (a person choosing Runasimi would get Spanish)."""
    open_kiosk(kiosk, live_box)
    assert kiosk.eval_on_selector_all("#languages [data-lang]", "ns => ns.map(n => n.dataset.lang)") == ["es", "en"]
    choose_service(kiosk, "ORI", lang="en")
    assert kiosk.evaluate("document.documentElement.lang") == "en"
    assert kiosk.text_content("#h-priority") == "Priority service?"
    assert kiosk.text_content("#take-ticket").strip() == "Take ticket"
    kiosk.click("#take-ticket")
    code, ticket = issued_ticket(kiosk, live_box)
    assert ticket["language"] == "en"
    assert kiosk.text_content("#ticket-service") == "Legal advice"
    kiosk.click("#ticket-done")
    screen(kiosk, "start")
    assert kiosk.evaluate("document.documentElement.lang") == "es", "the next person starts in Spanish"


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
    assert kiosk.get_attribute('[data-priority="gestante"]', "aria-pressed") == "false"
    add_document(kiosk)
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
    kiosk.click("#take-ticket")
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
    kiosk.click("#take-ticket")
    screen(kiosk, "error")
    assert "Espere un momento" in kiosk.text_content('[data-screen="error"] h1')
    kiosk.click('[data-screen="error"] [data-go="start"]')
    screen(kiosk, "start")


# ---------------------------------------------------------------------- on a box with a printer


@pytest.fixture(scope="module")
def printer_box(tmp_path_factory):
    """A box with a printer, a fifth service with a daily cap of 1, the Libro de Reclamaciones and a
    privacy notice address (the fullest start and document screens)."""
    capture = CaptureServer()
    text = SEDE_TOML.replace('[printer]\ntype = "none"',
                             f'[printer]\ntype = "network"\nhost = "127.0.0.1"\nport = {capture.port}\n'
                             'timeout_seconds = 0.5')
    text = text.replace("[[services]]", f'complaints_url = "{COMPLAINTS_URL}"\n\n[[services]]', 1)
    text = text.replace("[[counters]]", '[[services]]\ncode = "CAP"\nprefix = "K"\n'
                        'names = { es = "Medicina forense" }\nicon = "heart"\ndaily_cap = 1\n\n[[counters]]', 1)
    text += '\n[kiosk]\nprivacy_url = "https://www.minjus.gob.pe/privacidad-datos/"\n'
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
    kiosk.click("#take-ticket")
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
    kiosk.click("#take-ticket")
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


def test_closed_service_and_complaints_book_on_the_start_screen(kiosk, printer_box):
    services = {s["code"]: s for s in printer_box.call("GET", "/services", "ana").json()["services"]}
    if services["CAP"]["open"]:
        assert printer_box.call("POST", "/tickets", "ana", json={"service": "CAP"}).status_code == 201
    open_kiosk(kiosk, printer_box)
    complaints = kiosk.locator('[data-screen="start"] .complaints')  # this sede has a Libro de Reclamaciones
    expect(complaints).to_contain_text("Libro de Reclamaciones")
    expect(complaints).to_contain_text(COMPLAINTS_URL)
    assert complaints.locator("svg").count() == 1 and complaints.locator("a").count() == 0, "its QR; no link away"
    kiosk.wait_for_selector('[data-service="CAP"][aria-disabled="true"]')
    expect(kiosk.locator('[data-service="CAP"]')).to_contain_text("ya no hay turnos hoy")
    con = printer_box.call("GET", "/services", "ana").json()["services"]
    reasons = {s["code"]: s["closed_reason"] for s in con}
    if reasons["CON"] == "closed":  # outside 08:00-17:00 Lima time
        assert "cerrado a esta hora" in kiosk.text_content('[data-service="CON"]')
    screenshot(kiosk, "kiosk-12-closed-service")
    kiosk.locator('[data-service="CAP"]').click(force=True)
    assert kiosk.is_visible('[data-screen="start"]'), "an unavailable service cannot be chosen"


def test_kiosk_keeps_its_tap_through_a_box_restart(kiosk, printer_box):
    before = len(printer_box.call("GET", "/queue?service=PEN", "ana").json()["tickets"])
    open_kiosk(kiosk, printer_box)
    choose_service(kiosk, "PEN")
    printer_box.kill()
    kiosk.click("#take-ticket")
    kiosk.wait_for_selector("#issuing-status:has-text('Reconectando')")
    assert kiosk.is_visible("#offline")
    screenshot(kiosk, "kiosk-13-reconnecting")
    printer_box.start()
    screen(kiosk, "ticket")
    after = printer_box.call("GET", "/queue?service=PEN", "ana").json()["tickets"]
    assert len(after) == before + 1
    assert kiosk.text_content("#ticket-code") == after[-1]["code"]


# ---------------------------------------------------------------------- every screen fits every kiosk screen

FITS = """() => {
    const W = innerWidth, H = innerHeight, root = document.scrollingElement, problems = [];
    if (root.scrollHeight > H || root.scrollWidth > W) problems.push(`scrolls: ${root.scrollWidth}×${root.scrollHeight}`);
    const shown = el => el.checkVisibility({visibilityProperty: true}) && !el.parentElement.closest('svg');
    const name = el => `${el.id || el.tagName + '.' + el.classList[0]} "${(el.textContent || '').trim().slice(0, 30)}"`;
    for (const el of document.querySelectorAll('button, label, h1, h2, p, img, svg')) {
        const r = el.getBoundingClientRect();
        if (shown(el) && (r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1))
            problems.push(`outside the screen: ${name(el)} [${[r.left, r.top, r.right, r.bottom].map(Math.round)}]`);
    }
    for (const el of document.querySelectorAll('body *'))
        if (shown(el) && el.clientWidth && el.scrollWidth > el.clientWidth + 1) problems.push(`clipped: ${name(el)}`);
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {  // a word the browser had to break shows as more than one box
        const node = walker.currentNode, parent = node.parentElement;
        if (!parent || parent.closest('script, style') || !shown(parent)) continue;
        for (const word of node.data.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, word.index);
            range.setEnd(node, word.index + word[0].length);
            if (Array.from(range.getClientRects()).filter(r => r.width > 0).length > 1)
                problems.push(`word broken: "${word[0]}" in ${name(parent)}`);
        }
    }
    return problems;
}"""
SIZES = [(1280, 800), (1366, 768), (1920, 1080), (1080, 1920)]


def demo_services(route):
    """The demo sede's services (names, descriptions, icons), busy, one of them closed: the fullest
    start screen a sede ships with."""
    template = next(service for service in route.fetch().json()["services"] if service["code"] == "ORI")
    demo = tomllib.loads((ROOT / "config" / "demo.sede.toml").read_text(encoding="utf-8"))["services"]
    services = [dict(template, code=entry["code"], names=entry["names"], icon=entry.get("icon", "help"),
                     descriptions=entry.get("descriptions", {}), discreet=entry.get("discreet", False),
                     neutral_label=entry.get("neutral_label"), waiting=12, eta_minutes=20,
                     eta_range_minutes={"low": 15, "high": 25}) for entry in demo]
    services[3].update(open=False, closed_reason="daily_cap_reached")
    route.fulfill(status=200, content_type="application/json", body=json.dumps({"services": services}))


def busy_ticket(route):
    """The real ticket, shown with the longest lines it can have: preferential, many ahead, no slip."""
    response = route.fetch()
    ticket = dict(response.json(), priority="con_infante", position=15, print={"status": "failed"})
    route.fulfill(response=response, body=json.dumps(ticket))


def three_appointments(route):
    labels = ["Conciliación extrajudicial", "Atención reservada", "Orientación legal"]
    items = [{"id": f"CITA-2024-00012{n}", "starts_at": f"2026-11-25T1{n}:30:00-05:00", "service_label": label}
             for n, label in enumerate(labels)]
    route.fulfill(status=200, content_type="application/json", body=json.dumps({"appointments": items}))


@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_kiosk_screen_fits_without_scrolling(browser, printer_box, width, height):
    """Measured on each screen: no scrolling, every button and text inside the screen, nothing
    clipped, no word broken, with the demo sede's services and the longest texts."""
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima", viewport={"width": width, "height": height})
    page = context.new_page()
    page.route("**/api/v1/services", demo_services)
    page.route("**/api/v1/tickets", busy_ticket)
    page.route("**/api/v1/appointments?*", three_appointments)

    def check(step):
        screenshot(page, f"kiosk-fit-{width}x{height}-{step}")
        assert page.evaluate(FITS) == [], f"{step} at {width}x{height}"
        assert_large_targets(page)

    try:
        open_kiosk(page, printer_box)
        page.wait_for_selector('[data-service="PSI"]')
        check("1-start")
        choose_service(page, "ORI")
        page.click('[data-priority="con_infante"]')
        check("2-confirm")
        add_document(page)
        type_keys(page, "doc-keypad", "40718236")
        check("3-document-check")
        page.click('[data-doc="PASAPORTE"]')
        type_keys(page, "doc-keypad", "ÑWQ987654321XY")
        page.click("#doc-continue")  # the longest message: no Ñ in a document
        check("4-document-letters")
        page.click("#home")
        page.click("#to-appointment")
        type_keys(page, "appointment-keypad", "CITA-2024-000123")
        check("5-appointment")
        page.click("#appointment-search")
        page.wait_for_selector("[data-appointment]")
        check("6-appointment-found")
        page.click("#home")
        choose_service(page, "ORI")
        page.click("#take-ticket")
        expect(page.locator("#ticket-qr")).to_have_js_property("complete", True)
        check("7-ticket")
    finally:
        context.close()
