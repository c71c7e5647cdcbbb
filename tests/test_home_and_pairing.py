"""The box's front page and pairing: a kiosk and a display paired in one browser both stay paired,
and the front page links only to what works from here."""
from __future__ import annotations

import re

import socketio
from playwright.sync_api import expect

from conftest import screenshot, wait_for
from turnero.accounts import Accounts
from turnero.store import Store


def _pairing_code(live_box, name, role):
    store = Store.in_data_dir(live_box.data_dir)
    try:
        return Accounts(store).create_pairing_code(name, role, [], created_by="root")
    finally:
        store.close()


def _pair(page, live_box, role, name):
    page.goto(f"{live_box.url}/")
    page.click(f"#pair-{role}")
    page.fill("#pair-code", _pairing_code(live_box, name, role))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/{role}$"))


def test_one_browser_paired_as_kiosk_and_display_keeps_both(browser, live_box):
    context = browser.new_context(locale="es-PE", viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(f"{live_box.url}/")
        assert page.locator("#paired-devices").count() == 0, "not paired: no link to a page that would refuse"
        screenshot(page, "home-1366x768")
        _pair(page, live_box, "kiosk", "kiosco-pareja")
        page.wait_for_selector('[data-screen]:not([hidden])')
        _pair(page, live_box, "display", "pantalla-pareja")
        page.wait_for_selector("#clock:not(:empty)")
        names = sorted(cookie["name"] for cookie in context.cookies() if cookie["name"].startswith("turnero_"))
        assert names == ["turnero_display", "turnero_kiosk"]
        assert all(cookie["httpOnly"] for cookie in context.cookies() if cookie["name"].startswith("turnero_"))

        kiosk = context.new_page()  # both pages at once, in one browser, each with its own token
        kiosk.goto(f"{live_box.url}/kiosk")
        kiosk.wait_for_selector('[data-screen]:not([hidden])')
        assert "no está vinculado" not in kiosk.content()
        services = kiosk.evaluate("""() => fetch('/api/v1/services', {headers: {'X-Turnero-Device': 'kiosk'}})
            .then(r => r.status)""")
        assert services == 200
        page.reload()
        page.wait_for_selector("#clock:not(:empty)")
        assert "no está vinculado" not in page.content()

        page.goto(f"{live_box.url}/")
        expect(page.locator("#paired-devices a[href='/kiosk']")).to_be_visible()
        expect(page.locator("#paired-devices a[href='/display']")).to_be_visible()
        for href in page.eval_on_selector_all("main a[href^='/']", "links => links.map(a => a.getAttribute('href'))"):
            status = page.request.get(f"{live_box.url}{href}", max_redirects=0).status
            assert status in (200, 302), (href, status)  # staff pages send to the login form
    finally:
        context.close()


def test_a_page_says_which_device_it_is_when_the_browser_holds_both_cookies(browser, live_box):
    """The display page's API calls carry the display's token even with a kiosk cookie beside it
    (a kiosk token is refused by /api/v1/board)."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        context.add_cookies([
            {"name": "turnero_kiosk", "value": live_box.tokens["kiosco-1"], "url": live_box.url, "httpOnly": True},
            {"name": "turnero_display", "value": live_box.tokens["pantalla-vic"], "url": live_box.url,
             "httpOnly": True}])
        page = context.new_page()
        page.goto(f"{live_box.url}/display")
        page.wait_for_selector("#clock:not(:empty)")
        board = page.evaluate("""() => fetch('/api/v1/board', {headers: {'X-Turnero-Device': 'display'}})
            .then(r => r.status)""")
        assert board == 200, "the kiosk cookie would have been refused here (403)"
    finally:
        context.close()


def _socket_seen(live_box, device):
    """A Socket.IO client carrying both device cookies (a kiosk's and a VIC-only display's) and
    naming ``device`` in its auth, as the pages do; returns the ticket codes it was told of."""
    client = socketio.Client(reconnection=False)
    codes = []
    client.on("ticket.issued", lambda payload: codes.append(payload["data"]["ticket"]["code"]))
    cookies = f"turnero_kiosk={live_box.tokens['kiosco-1']}; turnero_display={live_box.tokens['pantalla-vic']}"
    client.connect(live_box.url, headers={"Cookie": cookies}, auth={"device": device}, transports=["websocket"],
                   wait_timeout=10)
    return client, codes


def test_a_socket_joins_as_the_device_its_page_names(live_box):
    as_display, display_codes = _socket_seen(live_box, "display")
    as_kiosk, kiosk_codes = _socket_seen(live_box, "kiosk")
    try:
        ori = live_box.call("POST", "/tickets", "beto", json={"service": "ORI"}).json()
        vic = live_box.call("POST", "/tickets", "beto", json={"service": "VIC"}).json()
        assert wait_for(lambda: vic["code"] in display_codes and vic["code"] in kiosk_codes)
        assert ori["code"] in kiosk_codes, "the kiosk's cookie: the whole hall"
        assert ori["code"] not in display_codes, "the VIC display's cookie: its own service only"
    finally:
        as_display.disconnect()
        as_kiosk.disconnect()
        for ticket in (ori, vic):
            live_box.call("POST", f"/tickets/{ticket['id']}/cancel", "sofia")
