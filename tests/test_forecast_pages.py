"""The wait estimate on the pages, in a real Chromium against a real box of its own: the kiosk
(landscape 1280×800 and portrait 1080×1920), the status page on a phone (390×844, updated live as
the queue moves), the supervisor's "¿y si…?" and the reports' staffing suggestion (office 1366×768).
Each page is photographed (test-artifacts/) and measured: nothing may stick out sideways."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from config import load_settings
from conftest import LiveBox, screenshot, write_sede
from turnero.sample_month import generate_month
from turnero.store import Store

VISIBLE = ":not([hidden])"
RANGE = re.compile(r"entre (\d+) y (\d+) (min|minutos)")
# Elements whose right edge passes the viewport (scrolling regions may hold wide tables: their box counts;
# what sits off to the left, like the skip link, cannot make the page scroll sideways).
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const out = [];
    for (const node of document.querySelectorAll('body *')) {
        if (!node.checkVisibility()) continue;
        if (node.closest('.scroll')) continue;  // inside a scrolling region: the region is measured
        const r = node.getBoundingClientRect();
        if (r.width && r.right > width + 1) out.push([node.tagName, node.id, node.className, r.left, r.right]);
    }
    return {scroll: document.documentElement.scrollWidth, width: width, out: out.slice(0, 10)};
}"""


def assert_no_sideways_overflow(page):
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= found["width"] and found["out"] == [], found


LAST_MONTH = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A box with last month's history (the reports' staffing table has weekdays and hours to show)."""
    data_dir = write_sede(tmp_path_factory.mktemp("forecast-pages") / "data")
    store = Store.in_data_dir(data_dir)
    generate_month(store, load_settings(data_dir, {}), LAST_MONTH, 28, 2500)
    store.close()
    box = LiveBox(data_dir).prepare().start()
    yield box
    box.stop()


def context(browser, viewport, **extra):
    return browser.new_context(locale="es-PE", timezone_id="America/Lima", viewport=viewport, **extra)


def issue(box, service="ORI", **body):
    response = box.call("POST", "/tickets", "ana", json={"service": service, **body})
    assert response.status_code == 201, response.text
    return response.json()


def open_kiosk_services(page, box):
    page.goto(f"{box.url}/kiosk?device_token={box.tokens['kiosco-1']}")
    page.wait_for_selector(f'[data-screen="start"]{VISIBLE} [data-service="ORI"]')


def test_status_page_says_por_confirmar_then_the_range_and_follows_the_queue(box, browser):
    waiting = issue(box, "PEN")
    phone = context(browser, {"width": 390, "height": 844})
    try:
        page = phone.new_page()
        page.goto(f"{box.url}/t/{waiting['public_id']}")
        assert page.text_content("#eta") == "Espera estimada: por confirmar"  # nobody serves PEN yet
        screenshot(page, "forecast-status-por-confirmar-390")
        box.call("POST", "/counters/v1/open", "ana", json={"services": ["PEN"]}).raise_for_status()
        first = issue(box, "PEN")
        box.call("POST", "/counters/v1/call-next", "ana").raise_for_status()  # the first PEN: `waiting`
        box.call("POST", f"/tickets/{waiting['id']}/start", "ana").raise_for_status()
        for _ in range(2):
            issue(box, "PEN")
        last = issue(box, "PEN")
        page.goto(f"{box.url}/t/{last['public_id']}")
        page.wait_for_selector("#status:not(:empty)")
        text = page.text_content("#eta")
        low, high, _ = RANGE.search(text).groups()
        assert "Espera estimada: entre" in text and int(low) < int(high)
        assert page.text_content("#position") == "Personas antes de usted: 3"
        assert_no_sideways_overflow(page)
        screenshot(page, "forecast-status-range-390")
        # the attention in progress ends and the next is called: the page moves up on its own
        box.call("POST", f"/tickets/{waiting['id']}/finish", "ana", json={"outcome": "resolved"}).raise_for_status()
        box.call("POST", "/counters/v1/call-next", "ana").raise_for_status()
        expect(page.locator("#position")).to_have_text("Personas antes de usted: 2", timeout=15000)
        assert RANGE.search(page.text_content("#eta"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert first["eta_range_minutes"] is not None
    finally:
        phone.close()
        box.release("v1")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 1080, "height": 1920}],
                         ids=["1280x800", "1080x1920"])
def test_kiosk_shows_the_wait_as_a_range(box, browser, viewport):
    size = f"{viewport['width']}x{viewport['height']}"
    box.call("POST", "/counters/v2/open", "beto", json={"services": ["ORI"]}).raise_for_status()
    for _ in range(3):
        issue(box, "ORI")
    kiosk = context(browser, viewport)
    try:
        page = kiosk.new_page()
        open_kiosk_services(page, box)
        ori = page.text_content('[data-service="ORI"] .service-meta')
        assert RANGE.search(ori) or "unos" in ori, ori  # ORI: v2 serves it
        assert "espera por confirmar" in page.text_content('[data-service="PEN"] .service-meta')  # nobody: PEN
        assert_no_sideways_overflow(page)
        screenshot(page, f"forecast-kiosk-services-{size}")
        page.click('[data-service="ORI"]')
        page.click("#take-ticket")
        page.wait_for_selector(f'[data-screen="ticket"]{VISIBLE}')
        expect(page.locator("#ticket-qr")).to_have_js_property("complete", True)
        eta = page.text_content("#ticket-eta")
        assert re.fullmatch(r"Espera estimada: (entre \d+ y \d+ minutos|unos \d+ minutos|alrededor de 1 minuto)", eta), eta
        assert_no_sideways_overflow(page)
        screenshot(page, f"forecast-kiosk-ticket-{size}")
    finally:
        kiosk.close()
        box.release("v2")


def staff_context(browser, box, username):
    office = context(browser, {"width": 1366, "height": 768})
    page = office.new_page()
    page.goto(f"{box.url}/login")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill("clave-segura-123")
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url(f"{box.url}/counter")
    return office, page


def test_supervisor_compares_choices_for_the_next_two_hours(box, browser):
    box.call("POST", "/counters/v1/open", "ana", json={"services": ["ORI", "PEN"]}).raise_for_status()
    for index in range(6):
        issue(box, "PEN" if index % 3 == 0 else "ORI")
    office, page = staff_context(browser, box, "sofia")
    try:
        page.goto(f"{box.url}/supervisor")
        page.wait_for_selector("#connection:not(.offline)")
        page.select_option("#whatif-counter", "v2")
        page.select_option("#whatif-action", "open")
        page.click("#whatif-add")
        page.select_option("#whatif-counter", "v1")
        page.select_option("#whatif-action", "close")
        page.click("#whatif-add")
        assert page.locator("#whatif-options li").count() == 2
        page.click("#whatif-run")
        page.wait_for_selector(f"#whatif-table{VISIBLE} tbody tr")
        heads = page.locator("#whatif-head th").all_text_contents()
        assert heads == ["Servicio", "Como está", "Opción 1: abrir Ventanilla 2", "Opción 2: cerrar Ventanilla 1"]
        ori = page.locator('#whatif-body tr[data-service="ORI"] td').all_text_contents()
        assert re.fullmatch(r"\d+ min \(p90 \d+\) · \d+ % en objetivo", ori[0]), ori
        assert ori[2] == "Sin ventanilla"  # closing the only counter leaves ORI unserved
        now, more = (int(cell.split(" ")[0]) for cell in ori[:2])
        assert more <= now
        assert_no_sideways_overflow(page)
        page.locator("#h-whatif").scroll_into_view_if_needed()
        screenshot(page, "forecast-supervisor-whatif-1366")
    finally:
        office.close()
        box.release("v1")


def test_reports_show_the_staffing_suggestion(box, browser):
    office, page = staff_context(browser, box, "sofia")
    try:
        first, last = LAST_MONTH, (LAST_MONTH + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        page.goto(f"{box.url}/reports?from={first}&to={last}")
        cells = page.locator("#staffing-table tbody td[data-arrivals]")
        assert page.locator("#staffing-table tbody tr").count() >= 5 and cells.count() >= 20
        assert re.fullmatch(r"\d+ ventanillas? para [\d.]+ llegadas por hora", cells.first.get_attribute("title"))
        assert_no_sideways_overflow(page)
        page.locator("#h-staffing").scroll_into_view_if_needed()
        screenshot(page, "forecast-reports-staffing-1366")
    finally:
        office.close()
