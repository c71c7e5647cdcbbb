"""The hall display on common TV sizes, in a real Chromium against a real box: whole rows only,
names never broken mid-word, a current code readable from the back of the hall, and a recall
shown as the same ticket again (one row) while still announced."""
from __future__ import annotations

import pytest
from conftest import LiveBox, screenshot, write_sede
from test_display_support import (WORKERS, announcements, free_counters, issue, last_seq, open_display, wait_announced,
                                  wait_shown)

SIZES = [(1280, 720), (1366, 768), (1920, 1080), (1080, 1920)]
# As long as a sede's counters get: the demo's "Ventanilla 1", a two-word name and a long word.
NAMES = {"v1": "Ventanilla 1", "v2": "Conciliación extrajudicial", "c1": "Consultorio psicológico"}
PREVIOUS_CALLS = 20  # the most sede.toml allows: more than any of these screens can show whole


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    """A box whose counters have long names (the session box's are short), with voice off:
    announcements are still made (chime-less, muted), and no synthesis slows the suite."""
    data_dir = write_sede(tmp_path_factory.mktemp("hall") / "data",
                          **{'name = "Ventanilla 2"': f'name = "{NAMES["v2"]}"',
                             'name = "Consultorio 1"': f'name = "{NAMES["c1"]}"'})
    box = LiveBox(data_dir, env={"TURNERO_DISPLAY_PREVIOUS_CALLS": str(PREVIOUS_CALLS),
                                 "TURNERO_VOICE_ENABLED": "false"})
    box.prepare(devices=(("pantalla-1", "display", []),)).start()
    free_counters(box)
    yield box
    box.stop()


def call_at(box, counter: str, **body) -> dict:
    ticket = issue(box, **body)
    response = box.call("POST", f"/tickets/{ticket['id']}/call", WORKERS[counter], json={"counter": counter})
    assert response.status_code == 200, response.text
    return response.json()["ticket"]


def no_show(box, ticket: dict, counter: str):
    response = box.call("POST", f"/tickets/{ticket['id']}/no-show", WORKERS[counter])
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def full_board(hall):
    """More calls than any screen shows, on every counter, with a preferential one and a recall
    among them (badges make rows taller)."""
    counters = list(NAMES)
    calls = []
    for index in range(PREVIOUS_CALLS + 3):
        counter = counters[index % len(counters)]
        body = {"priority": "adulto_mayor"} if index % 5 == 1 else {}
        called = call_at(hall, counter, **body)
        if index % 7 == 2:
            assert hall.call("POST", f"/counters/{counter}/recall", WORKERS[counter]).status_code == 200
        calls.append(called)
        no_show(hall, called, counter)
    return calls


MEASURE = """() => {
  const hidden = node => node.closest('.visually-hidden, [hidden], script, style, template, audio');
  const box = node => { const r = node.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const name = node => node.tagName.toLowerCase() + (node.id ? '#' + node.id : '') +
    (node.className && typeof node.className === 'string' ? '.' + node.className.trim().split(/\\s+/).join('.') : '');
  const root = document.documentElement;
  const out = {
    viewport: {width: innerWidth, height: innerHeight},
    page: {scrollWidth: root.scrollWidth, scrollHeight: root.scrollHeight,
           bodyScrollWidth: document.body.scrollWidth, bodyScrollHeight: document.body.scrollHeight},
    list: box(document.getElementById('previous-section')),
    rows: [...document.querySelectorAll('#previous tr')].map(row => ({code: row.dataset.code, ...box(row),
      recall: row.querySelectorAll('.badge-recall').length})),
    current: [...document.querySelectorAll('#current .call-code')].map(node => node.textContent),
    codeFontSize: parseFloat(getComputedStyle(document.querySelector('#current .call-code')).fontSize),
    tooWide: [...document.querySelectorAll('*')].filter(node => !hidden(node) && node.scrollWidth > node.clientWidth)
      .map(node => name(node) + ' ' + node.scrollWidth + '>' + node.clientWidth),
    broken: [],
    words: 0,
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode;
    const parent = text.parentElement;
    if (!parent || hidden(parent) || !parent.getClientRects().length) continue;  // not drawn
    for (const match of text.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(text, match.index);
      range.setEnd(text, match.index + match[0].length);
      const rects = [...range.getClientRects()].filter(rect => rect.width > 0 && rect.height > 0);
      out.words += 1;
      if (rects.length !== 1) out.broken.push(match[0] + ' in ' + name(parent) + ': ' + rects.length + ' pieces');
    }
  }
  return out;
}"""


def open_at(browser, box, width, height):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima",
                                  viewport={"width": width, "height": height})
    page = open_display(browser, box, context=context)
    page.wait_for_function(f"window.turneroDisplay.state.cursor >= {last_seq(box)}")
    page.wait_for_selector("#current .call-code")
    return page


@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_a_full_board_shows_whole_rows_and_whole_words(hall, full_board, browser, width, height):
    page = open_at(browser, hall, width, height)
    try:
        screenshot(page, f"display-layout-{width}x{height}")
        seen = page.evaluate(MEASURE)
        assert seen["viewport"] == {"width": width, "height": height}
        page_size = seen["page"]
        assert page_size["scrollWidth"] <= width and page_size["scrollHeight"] <= height, page_size
        assert seen["tooWide"] == []
        assert seen["words"] > 20 and seen["broken"] == []

        rows, frame = seen["rows"], seen["list"]
        assert rows, "at least one previous call is listed"
        # More distinct tickets were called than listed: the screen decided how many fit.
        assert len(rows) < PREVIOUS_CALLS
        for row in rows:
            assert frame["top"] - 0.5 <= row["top"] and row["bottom"] <= frame["bottom"] + 0.5, row
            assert frame["left"] - 0.5 <= row["left"] and row["right"] <= frame["right"] + 0.5, row
            assert 0 <= row["top"] and row["bottom"] <= height and 0 <= row["left"] and row["right"] <= width, row
        # One row per ticket: the recalled tickets are not listed twice, nor beside the current call.
        codes = [row["code"] for row in rows]
        assert len(set(codes)) == len(codes)
        assert seen["current"] == [full_board[-1]["code"]] and full_board[-1]["code"] not in codes
        assert codes == [call["code"] for call in reversed(full_board[:-1])][:len(codes)]
        if width > height:
            assert seen["codeFontSize"] >= 0.1 * height

        # The page dropped the rows that would have been cut, and no more: what is left below the
        # last row is less than a row.
        assert page.evaluate("window.turneroDisplay.rowsWanted") > len(rows)
        tallest = max(row["bottom"] - row["top"] for row in rows)
        assert frame["bottom"] - rows[-1]["bottom"] < tallest
    finally:
        page.context.close()


def test_rows_are_measured_again_when_the_screen_changes(hall, full_board, browser):
    page = open_at(browser, hall, 1280, 720)
    try:
        small = page.locator("#previous tr").count()
        page.set_viewport_size({"width": 1080, "height": 1920})  # the TV turned to portrait
        page.wait_for_function(f"document.querySelectorAll('#previous tr').length > {small}")
        seen = page.evaluate(MEASURE)
        assert seen["broken"] == [] and seen["tooWide"] == []
        assert all(row["bottom"] <= seen["list"]["bottom"] + 0.5 for row in seen["rows"])
        page.set_viewport_size({"width": 1280, "height": 720})
        page.wait_for_function(f"document.querySelectorAll('#previous tr').length === {small}")
    finally:
        page.context.close()


def test_a_recall_marks_the_same_ticket_and_is_still_announced(hall, full_board, browser):
    page = open_at(browser, hall, 1920, 1080)
    try:
        start = last_seq(hall)
        ticket = call_at(hall, "c1")
        first = last_seq(hall)
        wait_shown(page, first)
        assert hall.call("POST", "/counters/c1/recall", WORKERS["c1"]).status_code == 200
        recall = last_seq(hall)
        wait_shown(page, recall)
        wait_announced(page, recall)
        said = [item for item in announcements(page) if item["seq"] > start]
        assert [(item["seq"], item["recall"]) for item in said] == [(first, False), (recall, True)]

        code = ticket["code"]
        current = page.locator("#current .call-big")
        assert current.locator(".call-code").inner_text() == code
        assert "is-recall" in current.get_attribute("class")
        assert current.locator(".badge-recall").is_visible()
        assert current.locator(".badge-recall").inner_text().endswith("Llamado nuevamente")
        assert page.locator(f"#previous tr[data-code='{code}']").count() == 0  # not a second row
        screenshot(page, "display-layout-recall-current")

        # The board API still lists each call and recall as its own entry (SPEC): only the page
        # shows one ticket once.
        board = hall.call("GET", "/board?limit=5", "pantalla-1").json()["calls"]
        assert [(entry["code"], entry["recall"]) for entry in board[:2]] == [(code, True), (code, False)]

        no_show(hall, ticket, "c1")
        after = call_at(hall, "v1")
        wait_shown(page, last_seq(hall))
        assert page.locator("#current .call-code").inner_text() == after["code"]
        row = page.locator(f"#previous tr[data-code='{code}']")
        assert row.count() == 1
        assert "is-recall" in row.get_attribute("class")
        assert row.locator(".badge-recall").is_visible()
        assert page.locator("#previous .row-code", has_text=code).count() == 1
        screenshot(page, "display-layout-recall-row")
        no_show(hall, after, "v1")
    finally:
        page.context.close()
