"""Every page works under the box's Content-Security-Policy: its scripts run (the page fills itself
in) and the browser reports no violation. (Other browser tests bypass the policy only so that
Playwright's own probes, which use eval, can run: see conftest.TestBrowser.)"""
import time

import pytest

from tests.conftest import PASSWORD


def strict_page(browser, box):
    context = browser.browser.new_context(locale="es-PE", timezone_id="America/Lima", bypass_csp=False)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation',"
                         " e => console.error('Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI))")
    return context, page, violations


def log_in(page, box, username, path):
    page.goto(f"{box.url}/login?next={path}")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url(f"**{path}")


# (path, who, a selector the page's own script fills in)
PAGES = [
    ("/kiosk", "kiosco-1", "#languages [data-lang]"),
    ("/display", "pantalla-1", "body"),
    ("/counter", "ana", "#counter-select option, select option"),
    ("/supervisor", "sofia", "#counters-body tr, table tr"),
    ("/reports", "sofia", "svg, table"),
    ("/admin", "root", "#usuarios table"),
    ("/", None, "a"),
]


@pytest.mark.parametrize("path,who,filled", PAGES)
def test_pages_run_under_the_policy(browser, live_box, path, who, filled):
    box = live_box
    context, page, violations = strict_page(browser, box)
    try:
        if who in box.tokens and who not in ("ana", "sofia", "root", "beto"):
            page.goto(f"{box.url}{path}?device_token={box.tokens[who]}")
        elif who:
            log_in(page, box, who, path)
        else:
            page.goto(box.url + path)
        page.wait_for_load_state("networkidle")
        assert page.locator(filled).count() > 0, path
        if path == "/display":
            # The display's script ran and its socket connected (page.evaluate is not subject to
            # the policy; wait_for_function would be).
            deadline = time.time() + 15
            while not page.evaluate("() => !!(window.turneroDisplay && window.turneroDisplay.state.online)"):
                assert time.time() < deadline, "the display never came online"
                time.sleep(0.1)
        assert violations == [], violations
    finally:
        context.close()


def test_the_public_status_page_runs_under_the_policy(browser, live_box):
    box = live_box
    ticket = box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI"}).json()
    context, page, violations = strict_page(browser, box)
    try:
        page.goto(f"{box.url}/t/{ticket['public_id']}")
        page.wait_for_load_state("networkidle")
        assert ticket["code"] in page.content()
        assert violations == [], violations
    finally:
        context.close()
