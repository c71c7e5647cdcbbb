"""The reports pages in Chromium at the office screen's size (1366x768): nothing wider than the
screen, tables that fit or scroll inside their own box, charts before tables, the period presets,
the empty-period message, and headings that never break inside a word."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.conftest import LIMA, screenshot
from tests.test_counter_day import staff_page

OFFICE = {"width": 1366, "height": 768}

# Measured in the page: the page's own overflow, each table against its scroll box, the order of
# the first chart and the first data table, and headings and header cells that would break a word:
# while the style lets lines wrap only between words, a word too long for its cell overflows it
# (scrollWidth > clientWidth), so both are checked.
MEASURE = """() => {
  const root = document.documentElement;
  const tables = [...document.querySelectorAll('main table')].map(table => {
    const box = table.closest('.scroll');
    return {id: table.id, fits: table.getBoundingClientRect().width <= (box || table.parentElement).clientWidth + 0.5,
            scrolls: !!box && getComputedStyle(box).overflowX === 'auto'
                     && box.getBoundingClientRect().right <= root.clientWidth + 0.5};
  });
  const broken = [...document.querySelectorAll('main h1, main h2, main h3, main th, main caption, figcaption')]
    .filter(cell => cell.scrollWidth > cell.clientWidth + 1 || getComputedStyle(cell).wordBreak === 'break-all'
                    || ['anywhere', 'break-word'].includes(getComputedStyle(cell).overflowWrap))
    .map(cell => cell.textContent.trim());
  const chart = document.querySelector('main svg.chart');
  const table = document.querySelector('main table.data');
  return {scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, tables, broken,
          chartsFirst: !chart || !table || !!(chart.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING),
          charts: document.querySelectorAll('main svg.chart').length,
          empty: !!document.querySelector('#empty-period'),
          period: document.querySelector('#period').textContent.trim()};
}"""


@pytest.fixture(scope="module")
def served_day(live_box):
    """Today's tickets on the shared box: resolved, pending, referred (with a result code), a
    no-show, an internal transfer, a Quechua speaker, a pause and a survey answer."""
    box = live_box
    box.release("v1")
    box.call("POST", "/counters/v1/open", "ana", json={"services": ["ORI", "PEN"]}).raise_for_status()

    def serve(service, outcome, result=None, **body):
        ticket = box.call("POST", "/tickets", "kiosco-1", json={"service": service, **body}).json()
        box.call("POST", f"/tickets/{ticket['id']}/call", "ana", json={"counter": "v1"}).raise_for_status()
        if outcome == "no_show":
            box.call("POST", f"/tickets/{ticket['id']}/no-show", "ana").raise_for_status()
            return ticket
        box.call("POST", f"/tickets/{ticket['id']}/start", "ana").raise_for_status()
        if outcome == "transfer":
            box.call("POST", f"/tickets/{ticket['id']}/transfer", "ana", json={"service": "PEN"}).raise_for_status()
            return ticket
        box.call("POST", f"/tickets/{ticket['id']}/finish", "ana",
                 json={"outcome": outcome, **({"result": result} if result else {})}).raise_for_status()
        return ticket

    rated = serve("ORI", "resolved")
    serve("PEN", "referred", "PEN-01")
    serve("PEN", "pending", "PEN-02", language="qu")
    serve("ORI", "no_show")
    serve("ORI", "transfer")
    box.call("POST", "/counters/v1/pause", "ana", json={"reason": "pausa"}).raise_for_status()
    box.call("POST", "/counters/v1/resume", "ana").raise_for_status()
    moved = [t for t in box.call("GET", "/queue?service=PEN", "sofia").json()["tickets"] if t.get("transferred_from")]
    for ticket in moved:  # the transfer's new ticket, served in its new service
        box.call("POST", f"/tickets/{ticket['id']}/call", "ana", json={"counter": "v1"}).raise_for_status()
        box.call("POST", f"/tickets/{ticket['id']}/start", "ana").raise_for_status()
        box.call("POST", f"/tickets/{ticket['id']}/finish", "ana",
                 json={"outcome": "resolved", "result": "PEN-02"}).raise_for_status()
    box.call("POST", f"/public/tickets/{rated['public_id']}/survey", None, json={"score": 4}).raise_for_status()
    box.release("v1")
    return box


def _check_layout(found):
    assert found["scrollWidth"] <= found["innerWidth"], found
    assert all(table["fits"] or table["scrolls"] for table in found["tables"]), found["tables"]
    assert not found["broken"], found["broken"]


def test_reports_page_at_the_office_screen(served_day, browser):
    box = served_day
    today = datetime.now(LIMA).date()  # the live box runs on the real clock
    page = staff_page(browser, box, "sofia", "/reports", viewport=OFFICE)
    try:
        found = page.evaluate(MEASURE)
        _check_layout(found)
        assert found["charts"] >= 3 and found["chartsFirst"] and not found["empty"]
        screenshot(page, "reports-today-1366")

        page.get_by_role("link", name="Mes pasado").click()
        page.wait_for_load_state()
        last_month_end = today.replace(day=1) - timedelta(days=1)
        found = page.evaluate(MEASURE)
        assert found["period"] == f"01/{last_month_end:%m/%Y} — {last_month_end:%d/%m/%Y}"
        assert found["empty"] and found["charts"] == 0
        _check_layout(found)
        screenshot(page, "reports-empty-1366")

        page.get_by_role("link", name="Hoy").click()
        page.wait_for_load_state()
        found = page.evaluate(MEASURE)
        assert found["period"] == f"{today:%d/%m/%Y} — {today:%d/%m/%Y}" and not found["empty"]
    finally:
        page.context.close()


def test_reports_for_a_month_and_the_summary_at_the_office_screen(served_day, browser):
    box = served_day
    today = datetime.now(LIMA).date()
    first = today.replace(day=1)
    path = f"/reports?from={(first - timedelta(days=1)).replace(day=1)}&to={today}"
    page = staff_page(browser, box, "sofia", "/reports/summary?month=" + f"{today:%Y-%m}", live=False,
                      viewport=OFFICE)
    try:
        found = page.evaluate("""() => ({
          scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          broken: [...document.querySelectorAll('main th, main h1, main h2')]
            .filter(cell => cell.scrollWidth > cell.clientWidth + 1).map(cell => cell.textContent.trim())})""")
        assert found["scrollWidth"] <= found["innerWidth"] and not found["broken"], found
        screenshot(page, "summary-1366")
        page.goto(box.url + path)  # (a login's "next" keeps a single query parameter)
        found = page.evaluate(MEASURE)
        _check_layout(found)
        assert found["chartsFirst"] and found["charts"] >= 4  # with the daily trend
        screenshot(page, "reports-period-1366")
    finally:
        page.context.close()
