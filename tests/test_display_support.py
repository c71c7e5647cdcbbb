"""Helpers shared by the display tests and benchmarks (no tests here): drive calls on a live box, read the page."""
from __future__ import annotations

# Who works where on the test sede (a user holds one counter at a time).
WORKERS = {"v1": "ana", "v2": "beto", "c1": "sofia"}


def free_counters(box):
    """Leave every counter empty and open: no-show what is called, finish what is served."""
    counters = box.call("GET", "/counters").json()["counters"]
    for counter in counters:
        ticket = counter["ticket"]
        user = WORKERS[counter["id"]]
        if ticket and ticket["status"] == "called":
            assert box.call("POST", f"/tickets/{ticket['id']}/no-show", user).status_code == 200
        elif ticket and ticket["status"] == "serving":
            assert box.call("POST", f"/tickets/{ticket['id']}/finish", user,
                            json={"outcome": "resolved"}).status_code == 200
        if counter["state"] == "paused":
            box.call("POST", f"/counters/{counter['id']}/resume", counter["staff"] or user)


def issue(box, service="ORI", **body) -> dict:
    response = box.call("POST", "/tickets", "ana", json={"service": service, **body})
    assert response.status_code == 201, response.text
    return response.json()


def call_next(box, counter: str) -> dict:
    response = box.call("POST", f"/counters/{counter}/call-next", WORKERS[counter])
    assert response.status_code == 200, response.text
    return response.json()["ticket"]


def call_ticket(box, ticket_id: str, counter: str) -> dict:
    response = box.call("POST", f"/tickets/{ticket_id}/call", WORKERS[counter], json={"counter": counter})
    assert response.status_code == 200, response.text
    return response.json()["ticket"]


def last_seq(box) -> int:
    return box.call("GET", "/events?after=999999999&limit=1").json()["last_seq"]


def open_display(browser, box, device="pantalla-1", audio=False, context=None):
    """A new browser context paired with ``device``; returns the page once the display started."""
    context = context or browser.new_context(locale="es-PE", timezone_id="America/Lima")
    page = context.new_page()
    query = "" if audio else "&audio=0"
    page.goto(f"{box.url}/display?device_token={box.tokens[device]}{query}")
    page.wait_for_function("window.turneroDisplay && window.turneroDisplay.state.cursor !== null"
                           " && window.turneroDisplay.state.online")
    return page


def shown(page) -> list[dict]:
    return page.evaluate("window.turneroDisplay.shown.map(e => ({seq: e.seq, code: e.code}))")


def announcements(page) -> list[dict]:
    return page.evaluate("window.turneroDisplay.announcements.map(a => ({seq: a.seq, code: a.code,"
                         " status: a.status, recall: a.recall, played: a.played, ended: !!a.endedAt}))")


def wait_shown(page, seq: int, timeout: float = 10000):
    page.wait_for_function(f"window.turneroDisplay.shown.some(e => e.seq === {seq})", timeout=timeout)


def wait_announced(page, seq: int, timeout: float = 20000):
    page.wait_for_function(
        f"window.turneroDisplay.announcements.some(a => a.seq === {seq} && a.endedAt)", timeout=timeout)

