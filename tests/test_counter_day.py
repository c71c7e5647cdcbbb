"""A full day in real Chromium: two consoles and a supervisor serve a queue issued through the API,
with a double click, recalls, a no-show, transfers, a pause, supervisor actions, and the reports
and CSV that must match what was done. Runs on its own server so the figures are only ours."""
from __future__ import annotations

import csv
import io

import pytest

from counter.reports import COLUMNS
from tests.conftest import PASSWORD, LiveBox, screenshot, write_sede


@pytest.fixture(scope="module")
def day_box(tmp_path_factory):
    data_dir = write_sede(tmp_path_factory.mktemp("counter-day") / "data")
    box = LiveBox(data_dir).prepare().start()
    yield box
    box.stop()


def staff_page(browser, box, username, path, live=True, viewport=None):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima",
                                  **({"viewport": viewport} if viewport else {}))
    context.grant_permissions(["notifications"], origin=box.url)
    page = context.new_page()
    if not live:  # no Socket.IO: the page keeps what it loaded, as when the network hiccups
        page.route("**/socket.io/**", lambda route: route.abort())  # polling
        page.route_web_socket("**/socket.io/**", lambda ws: ws.close())  # (the pages try WebSocket first)
    page.goto(f"{box.url}/login?next={path}")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url(f"{box.url}{path}")
    if path != "/reports" and live:
        page.wait_for_selector("#connection:not(.offline)")
    return page


def issue(box, service, **body):
    response = box.call("POST", "/tickets", "kiosco-1", json={"service": service, **body})
    assert response.status_code == 201, response.text
    return response.json()


def events(box, types):
    found = box.call("GET", "/events?after=0&limit=1000").json()["events"]
    return [event for event in found if event["type"] in types]


def open_counter(page, counter_id):
    page.wait_for_function("document.querySelector('#counter-state').textContent !== ''")
    page.select_option("#counter-select", counter_id)
    if page.is_enabled("#open-counter"):  # disabled when the user already holds this counter
        page.click("#open-counter")
    page.wait_for_function("document.querySelector('#counter-state').textContent === 'Abierta'")


def in_hand(page) -> str:
    page.wait_for_selector("#ticket-detail:not([hidden])")
    return page.inner_text("#ticket-code")


def wait_enabled(page, selector):
    page.wait_for_selector(f"{selector}:not([disabled])")


def test_a_full_day_at_two_counters_with_a_supervisor(browser, day_box):
    box = day_box
    normal = [issue(box, "ORI") for _ in range(3)]
    elder = issue(box, "ORI", priority="adulto_mayor")
    penal = issue(box, "PEN")
    ana = staff_page(browser, box, "ana", "/counter")
    beto = staff_page(browser, box, "beto", "/counter")
    sofia = staff_page(browser, box, "sofia", "/supervisor")
    try:
        open_counter(ana, "v1")
        open_counter(beto, "v2")
        # Both consoles list the waiting ORI tickets; only ana's (v1 serves PEN) lists the PEN one.
        ana.wait_for_selector(f"#waiting-body tr[data-code='{penal['code']}']")
        beto.wait_for_selector(f"#waiting-body tr[data-code='{elder['code']}']")
        assert beto.locator(f"#waiting-body tr[data-code='{penal['code']}']").count() == 0
        assert ana.get_attribute(f"#waiting-body tr[data-code='{elder['code']}']", "class") == "preferential"

        # A double click calls once: the preferential ticket, and nothing more.
        ana.dblclick("#call-next")
        assert in_hand(ana) == elder["code"]
        assert len(events(box, {"ticket.called"})) == 1
        # The server refuses a second call anyway while the counter holds a ticket.
        busy = box.call("POST", "/counters/v1/call-next", "ana")
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "counter_busy"
        # The other console's waiting list drops the called ticket without a reload.
        beto.wait_for_selector(f"#waiting-body tr[data-code='{elder['code']}']", state="detached")

        # No-show is offered only after the configured recall (no_show_after_recalls = 1).
        assert ana.is_disabled("#no-show")
        ana.click("#recall")
        ana.wait_for_function("document.querySelector('#ticket-recalls').textContent === '1'")
        wait_enabled(ana, "#no-show")
        ana.click("#no-show")
        ana.wait_for_selector("#ticket-detail", state="hidden")

        # beto serves one with the keyboard: N calls, I starts, then finish with a result.
        beto.keyboard.press("n")
        first = in_hand(beto)
        assert first == normal[0]["code"]
        wait_enabled(beto, "#start")
        beto.keyboard.press("i")
        wait_enabled(beto, "#finish")
        beto.select_option("#outcome", "pending")
        beto.fill("#case-ref", "EXP-2026-0042")
        beto.click("#finish")
        beto.wait_for_function("document.querySelector('#fig-served').textContent === '1'")

        # ana calls, starts and transfers to Defensa penal with a note; the person keeps the code.
        ana.click("#call-next")
        second = in_hand(ana)
        assert second == normal[1]["code"]
        wait_enabled(ana, "#start")
        ana.click("#start")
        wait_enabled(ana, "#finish")
        ana.select_option("#transfer-service", "PEN")
        ana.fill("#transfer-note", "Requiere patrocinio penal")
        ana.click("#transfer")
        ana.wait_for_selector("#ticket-detail", state="hidden")
        ana.wait_for_selector(f"#waiting-body tr[data-code='{second}']")  # now waiting in PEN, served by v1

        # An error from the API is shown in Spanish: beto tries to call the ticket ana just got.
        ana.click(f"#waiting-body tr[data-code='{second}'] button")
        assert in_hand(ana) == second
        taken = box.call("POST", f"/tickets/{_ticket_id(box, second, 'called')}/call", "beto", json={"counter": "v2"})
        assert taken.status_code == 409
        assert taken.json()["error"]["message"] == f"El turno {second} está llamado por Ventanilla 1."
        wait_enabled(ana, "#start")
        ana.click("#start")
        wait_enabled(ana, "#finish")
        result_options = ana.locator("#result option").all_inner_texts()
        assert any(text.startswith("PEN-01") for text in result_options)
        ana.select_option("#result", "PEN-01")
        ana.click("#finish")
        ana.wait_for_function("document.querySelector('#fig-served').textContent === '2'")

        # ana pauses with a reason; the supervisor sees it live; then she resumes.
        ana.fill("#pause-reason", "Almuerzo")
        ana.click("#pause")
        sofia.wait_for_function(
            "document.querySelector(\"tr[data-counter='v1'] .state\").textContent === 'En pausa: Almuerzo'")
        paused = box.call("POST", "/counters/v1/call-next", "ana")
        assert paused.status_code == 409 and paused.json()["error"]["code"] == "counter_paused"
        ana.wait_for_function("!document.querySelector('#resume').disabled")  # her own page shows the pause
        ana.keyboard.press("p")
        ana.wait_for_function("document.querySelector('#counter-state').textContent === 'Abierta'")

        # The supervisor cancels a waiting ticket and requeues the no-show, each with a reason.
        sofia.wait_for_selector(f"#waiting-body tr[data-code='{normal[2]['code']}']")
        sofia.click(f"#waiting-body tr[data-code='{normal[2]['code']}'] button")
        sofia.fill("#dialog-reason", "Se retiró de la sede")
        sofia.click("#dialog-confirm")
        sofia.wait_for_selector(f"#requeue-body tr[data-code='{normal[2]['code']}']")
        assert sofia.inner_text(f"#requeue-body tr[data-code='{normal[2]['code']}'] .status") == "Anulado"
        sofia.click(f"#requeue-body tr[data-code='{elder['code']}'] button")
        sofia.click("#dialog-confirm")  # empty reason: the dialog stays open
        assert sofia.locator("#action-dialog").get_attribute("open") is not None
        sofia.fill("#dialog-reason", "Regresó a la sala")
        sofia.click("#dialog-confirm")
        sofia.wait_for_selector(f"#waiting-body tr[data-code='{elder['code']}']")
        sofia.wait_for_selector("#audit-body tr >> text=Regresó a la sala")

        # The requeued ticket reappears on beto's console; he calls it and it does not show up.
        beto.wait_for_selector(f"#waiting-body tr[data-code='{elder['code']}']")
        beto.click("#call-next")
        assert in_hand(beto) == elder["code"]
        beto.click("#recall")
        wait_enabled(beto, "#no-show")
        beto.click("#no-show")
        beto.wait_for_selector("#ticket-detail", state="hidden")

        # The queue of beto's counter is empty now; a new ticket makes a sound and a notification.
        beto.wait_for_function("document.querySelector('#waiting-count').textContent === '0'")
        before = int(beto.evaluate("document.body.dataset.notified || '0'"))
        assert before >= 1  # the requeue already refilled the empty queue once
        issue(box, "ORI")  # (CON keeps office hours; the wall clock of this run may be outside them)
        beto.wait_for_function(f"document.body.dataset.notified === '{before + 1}'")

        # The supervisor moves beto's counter to CON only, then closes the day; both are recorded.
        sofia.click("tr[data-counter='v2'] button:has-text('Cambiar servicios')")
        sofia.uncheck("#dialog-services-ORI")
        sofia.fill("#dialog-reason", "Refuerzo en conciliación")
        sofia.click("#dialog-confirm")
        beto.wait_for_function("document.querySelector('#counter-services').textContent.indexOf('Orientación') < 0")
        sofia.click("#close-day")  # at the bottom, behind a confirmation that says what it does
        sofia.wait_for_selector("#close-dialog[open] #close-effect >> text=pasarán a «vencido»")
        sofia.fill("#close-reason", "Fin de la jornada")
        sofia.click("#close-confirm")
        sofia.wait_for_selector("#info >> text=Día cerrado: 2 turno(s) vencido(s).")
        sofia.wait_for_selector("#audit-body tr >> text=Cerró el día")
        screenshot(sofia, "supervisor-after-day")
        screenshot(ana, "console-after-day")
    finally:
        for page in (ana, beto, sofia):
            page.context.close()

    audit = [event for event in events(box, {"ticket.cancelled", "ticket.requeued", "counter.services_changed",
                                             "day.closed"})]
    assert [(event["type"], event["data"]["by"], event["data"]["reason"]) for event in audit] == [
        ("ticket.cancelled", "sofia", "Se retiró de la sede"), ("ticket.requeued", "sofia", "Regresó a la sala"),
        ("counter.services_changed", "sofia", "Refuerzo en conciliación"), ("day.closed", "sofia", "Fin de la jornada")]
    transfer = events(box, {"ticket.transferred"})[0]["data"]
    assert transfer["by"] == "ana" and transfer["notes"] == "Requiere patrocinio penal"

    # What was done: issued 6 (3 ORI normal, 1 ORI preferential, 1 PEN, 1 more ORI; the transfer is not a new
    # arrival), served 3 (beto 1, ana 2 counting the attention cut by the transfer), 2 no-shows,
    # 1 cancelled, 1 transferred; the PEN and the last ORI tickets expired when the day closed.
    expected = {"issued": "6", "served": "3", "no_shows": "2", "cancelled": "1", "transferred": "1"}
    sofia = staff_page(browser, box, "sofia", "/reports")
    try:
        totals = {key: sofia.inner_text(f"#totals-table td[data-col='{key}']") for key in expected}
        assert totals == expected
        assert sofia.inner_text("#staff-table tr[data-key='ana'] td[data-col='served']") == "2"
        assert sofia.inner_text("#staff-table tr[data-key='beto'] td[data-col='no_shows']") == "1"
        assert sofia.inner_text("#counters-table tr[data-key='v1'] td[data-col='transferred']") == "1"
        assert sofia.locator("svg.chart").count() >= 3
        # The page shows each section as two narrower tables (counts, times); the CSV has one row
        # with every column: join the page's two by row and column before comparing.
        table_rows = {}
        for table in ("totals", "services", "counters", "staff"):
            for part in ("table", "times"):
                for row in sofia.locator(f"#{table}-{part} tbody tr").all():
                    cells = table_rows.setdefault((table, row.get_attribute("data-key")), {})
                    cells["name"] = row.locator("th").inner_text()
                    cells.update({cell.get_attribute("data-col"): cell.inner_text()
                                  for cell in row.locator("td").all()})
        download = sofia.request.get(box.url + sofia.get_attribute("#export", "href"))
        assert download.status == 200 and download.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(download.text().lstrip("\ufeff"))))
        figures = lines[2:lines.index([], 2)]  # the figures table ends at the first blank row
        sections = {"total": "totals", "servicio": "services", "ventanilla": "counters", "personal": "staff"}
        columns = [key for key, _ in COLUMNS]
        csv_rows = {(sections[line[0]], line[1]): dict(zip(columns, line)) for line in figures}
        assert set(csv_rows) == set(table_rows)
        for key, cells in table_rows.items():
            # a row with no name (the totals row) reads "—" on screen and stays empty in the CSV
            assert {col: csv_rows[key][col] for col in cells} == {
                col: "" if col == "name" and text == "—" else text for col, text in cells.items()}, key
        screenshot(sofia, "reports-day")
    finally:
        sofia.context.close()


def _ticket_id(box, code, status):
    found = box.call("GET", f"/tickets?status={status}").json()["tickets"]
    return next(ticket["id"] for ticket in found if ticket["code"] == code)
