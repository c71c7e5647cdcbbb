"""The supervisor page in Chromium at 1366×768 (the sedes' usual laptop): summary figures and
alerts above the fold, no sideways scrolling, and "Cerrar el día" away from the daily flow behind
a confirmation that says what it does. Runs on its own server (it closes the day), with a printer
set up wrong so that the printer alert shows."""
from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, SEDE_TOML, LiveBox, screenshot, write_sede
from tests.test_counter_day import issue, staff_page

WIDTH, HEIGHT = 1366, 768


@pytest.fixture(scope="module")
def sup_box(tmp_path_factory):
    text = SEDE_TOML.replace('[printer]\ntype = "none"', '[printer]\ntype = "network"')  # no host: setup error
    data_dir = write_sede(tmp_path_factory.mktemp("supervisor-page") / "data", text)
    box = LiveBox(data_dir).prepare().start()
    yield box
    box.stop()


def supervisor_page(browser, box):
    return staff_page(browser, box, "sofia", "/supervisor", viewport={"width": WIDTH, "height": HEIGHT})


def waiting_codes(box):
    return sorted(t["code"] for t in box.call("GET", "/queue", "sofia").json()["tickets"])


def day_closed_events(box):
    events = box.call("GET", "/events?after=0&limit=1000").json()["events"]
    return [event for event in events if event["type"] == "day.closed"]


def test_summary_and_alerts_above_the_fold_and_closing_the_day_asks_first(browser, sup_box):
    box = sup_box
    for service in ("PEN", "PEN", "ORI"):
        issue(box, service, **({"priority": "adulto_mayor"} if service == "ORI" else {}))
    open_v2 = box.call("POST", "/counters/v2/open", "ana")  # ORI and CON: PEN has no open counter
    assert open_v2.status_code == 200, open_v2.text
    page = supervisor_page(browser, box)
    try:
        page.wait_for_selector("#alerts li[data-code='unstaffed_queue']")
        page.wait_for_selector("#alerts li[data-code='printer_down']")
        assert page.inner_text("#sum-waiting") == "3"
        assert page.inner_text("#sum-open") == "1 / 3"
        unstaffed = page.inner_text("#alerts li[data-code='unstaffed_queue']")
        assert "Crítico:" in unstaffed and "Defensa penal: 2 personas esperan" in unstaffed
        assert "Impresora de turnos: Con falla." in page.inner_text("#alerts li[data-code='printer_down']")
        # Danger alerts first, each with its icon (not colour alone).
        severities = page.eval_on_selector_all("#alerts li", "items => items.map(i => i.dataset.severity)")
        assert severities == sorted(severities, key=["danger", "warning"].index)
        assert page.eval_on_selector_all("#alerts li .alert-icon", "icons => icons.length") == len(severities)

        # Above the fold: the summary and the alerts; below it: the end of the day; nothing sideways.
        for selector in ("#summary", "#alerts"):
            box_ = page.locator(selector).bounding_box()
            assert box_["y"] + box_["height"] <= HEIGHT, selector
        assert page.locator("#close-day").bounding_box()["y"] > HEIGHT
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "supervisor-1366-fold.png"))
        screenshot(page, "supervisor-1366-full")

        # The confirmation says what closing does, with the number; cancelling changes nothing.
        page.click("#close-day")
        page.wait_for_selector("#close-dialog[open]")
        assert page.inner_text("#close-effect") == ("3 turnos en espera o llamados pasarán a «vencido» y ya no "
                                                     "podrán llamarse.")
        page.screenshot(path=str(ARTIFACTS / "supervisor-1366-close-dialog.png"))
        page.click("#close-cancel")
        assert not page.is_visible("#close-dialog")
        assert len(waiting_codes(box)) == 3 and day_closed_events(box) == []

        # A reason is required; then confirming closes the day.
        page.click("#close-day")
        page.click("#close-confirm")
        assert page.is_visible("#close-dialog") and day_closed_events(box) == []
        page.fill("#close-reason", "Fin de la jornada")
        page.click("#close-confirm")
        page.wait_for_selector("#info >> text=Día cerrado: 3 turno(s) vencido(s).")
        assert waiting_codes(box) == []
        [closed] = day_closed_events(box)
        assert (closed["data"]["by"], closed["data"]["reason"]) == ("sofia", "Fin de la jornada")
        page.wait_for_function("document.querySelector('#sum-waiting').textContent === '0'")
        assert page.locator("#alerts li[data-code='unstaffed_queue']").count() == 0
        assert page.is_visible("#alerts li[data-code='printer_down']")
    finally:
        page.context.close()


def test_alerts_are_a_polite_live_region_touched_only_when_they_change(browser, sup_box):
    box = sup_box
    issue(box, "PEN")
    issue(box, "PEN")
    assert box.call("POST", "/counters/v2/open", "ana").status_code == 200  # ORI and CON are staffed
    page = supervisor_page(browser, box)
    try:
        assert page.get_attribute("#alerts", "aria-live") == "polite"
        page.wait_for_selector("#alerts li[data-code='unstaffed_queue'] >> text=2 personas esperan")
        page.wait_for_selector("#alerts li[data-code='printer_down']")
        page.evaluate("""() => {
            document.querySelector("#alerts li[data-code='printer_down']").dataset.seen = "yes";
            window.alertChanges = [];
            new MutationObserver((records) => window.alertChanges.push(...records.map((r) => r.type)))
              .observe(document.getElementById('alerts'), {childList: true, subtree: true, characterData: true,
                                                            attributes: true});
        }""")
        # A ticket a staffed counter serves: the page renders again, the alerts stay as they were.
        issue(box, "ORI")
        page.wait_for_function("document.querySelector('#sum-waiting').textContent === '3'")
        assert page.evaluate("window.alertChanges") == []
        # One more person in the unstaffed queue: that alert's words change, the printer's item is untouched.
        issue(box, "PEN")
        page.wait_for_selector("#alerts li[data-code='unstaffed_queue'] >> text=3 personas esperan")
        assert page.evaluate("window.alertChanges") != []
        assert page.get_attribute("#alerts li[data-code='printer_down']", "data-seen") == "yes"
        screenshot(page, "supervisor-1366-alerts-live")
    finally:
        page.context.close()
        box.call("POST", "/close-day", "sofia", json={"reason": "Fin de la prueba"})
