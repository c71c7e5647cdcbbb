"""WCAG 2.2 AA on every page, checked by axe-core in a real Chromium against the session box.

axe-core (tests/vendor/axe.min.js, see tests/vendor/README.md) is injected into each page once it
shows what a person would see (a call on the board, a ticket in hand at the counter, each kiosk
step) and run with the WCAG 2.0/2.1/2.2 A and AA rules. A failure lists each violation: rule id,
impact, the offending elements' selectors and axe's help text. axe finds what a machine can find
(contrast, names, labels, landmarks, lang, target size...); it is no substitute for a person with
a screen reader, but it keeps the pages from sliding back.

The kiosk's own rule is stricter than WCAG: its touch targets are at least 15 mm (57 CSS px).
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from central.service import add_sede, add_viewer
from central.testing import CentralServer
from conftest import PASSWORD

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
KIOSK_VIEWPORT = {"width": 1080, "height": 1920}  # the kiosk's portrait touchscreen
MIN_TOUCH_PX = 57  # 15 mm at 96 CSS px per inch
VISIBLE = ":not([hidden])"


# ---------------------------------------------------------------------- helpers


def audit(page) -> list[dict]:
    """Run axe on the page as it is now; return its violations. With AXE_NEEDS_REVIEW=1 in the
    environment, also print what axe could not decide alone (run pytest with -s to see it)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    results = page.evaluate("""(tags) => axe.run(document, {runOnly: {type: "tag", values: tags},
                                                            resultTypes: ["violations", "incomplete"]})
        .then(r => Object.fromEntries(["violations", "incomplete"].map(kind => [kind, r[kind].map(v => ({
            id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
            nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))}))])))""",
                            WCAG_TAGS)
    if os.environ.get("AXE_NEEDS_REVIEW") and results["incomplete"]:
        print(f"\n{page.url} — needs review:\n{describe(results['incomplete'])}")
    return results["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {violation['url']}")
        for node in violation["nodes"][:8]:
            summary = " ".join((node["summary"] or "").split())[:300]
            lines.append(f"    {node['target']}: {summary}")
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


def screen(page, name):
    page.wait_for_selector(f'[data-screen="{name}"]{VISIBLE}')


# ---------------------------------------------------------------------- the scene


class Scene:
    """What the pages show: ticket ``called`` is in ana's hand at Ventanilla 1 (so it is on the
    board), ticket ``waiting`` waits. One browser context per kind of visitor (anonymous, kiosk,
    display, phone, each staff member: staff log in once, the login form is rate-limited), and
    one kiosk page whose steps the kiosk cases walk from the start screen."""

    def __init__(self, box, browser):
        self.box, self.browser = box, browser
        self.contexts: dict = {}
        self.tickets: list[str] = []
        self.kiosk_page = None

    def issue(self, service="ORI", **body) -> dict:
        response = self.box.call("POST", "/tickets", "kiosco-1", json={"service": service, "language": "es", **body})
        assert response.status_code == 201, response.text
        self.tickets.append(response.json()["id"])
        return response.json()

    def context(self, name: str, viewport=None):
        if name not in self.contexts:
            context = self.browser.new_context(locale="es-PE", timezone_id="America/Lima",
                                               viewport=viewport or {"width": 1366, "height": 900})
            self.contexts[name] = context
            if name.startswith("staff:"):
                page = context.new_page()
                page.goto(f"{self.box.url}/login")
                page.get_by_label("Usuario").fill(name[len("staff:"):])
                page.get_by_label("Contraseña").fill(PASSWORD)
                page.get_by_role("button", name="Ingresar").click()
                page.wait_for_url(f"{self.box.url}/counter")
                page.close()
        return self.contexts[name]

    def page(self, context: str, path: str, status=200, viewport=None):
        page = self.context(context, viewport).new_page()
        response = page.goto(self.box.url + path)
        assert (page.url, response.status) == (self.box.url + path, status), f"{context} could not open {path}"
        return page

    def staff_page(self, username: str, path: str):
        return self.page(f"staff:{username}", path)

    def done(self, page):
        if page is not self.kiosk_page:
            page.close()

    def close(self):
        for context in self.contexts.values():
            context.close()


@pytest.fixture(scope="module")
def scene(live_box, browser):
    box = live_box
    box.release("v1")
    scene = Scene(box, browser)
    scene.called = scene.issue("ORI", priority="adulto_mayor")
    scene.waiting = scene.issue("ORI")
    box.call("POST", "/counters/v1/open", "ana", json={"services": ["ORI", "PEN"]}).raise_for_status()
    scene.finished = scene.issue("ORI")  # its status page asks "¿Cómo fue su atención?"
    box.release("v2")
    for action, body in (("call", {"counter": "v2"}), ("start", None), ("finish", {"outcome": "resolved"})):
        box.call("POST", f"/tickets/{scene.finished['id']}/{action}", "beto", json=body).raise_for_status()
    box.release("v2")
    box.call("POST", f"/tickets/{scene.called['id']}/call", "ana", json={"counter": "v1"}).raise_for_status()
    yield scene
    scene.close()
    box.release("v1")
    for ticket_id in scene.tickets:
        status = box.call("GET", f"/tickets/{ticket_id}", "sofia").json().get("status")
        if status == "waiting":  # leave the shared box's queue as the other tests expect it
            box.call("POST", f"/tickets/{ticket_id}/cancel", "sofia").raise_for_status()


@pytest.fixture(scope="module")
def central_server(tmp_path_factory):
    database = tmp_path_factory.mktemp("central") / "central.db"
    server = CentralServer(f"sqlite:///{database}")
    add_sede(server.db, "LIM-01", "Sede Lima Centro")
    server.viewer = base64.b64encode(f"auditora:{add_viewer(server.db, 'auditora')}".encode()).decode()
    with server:
        yield server


# ---------------------------------------------------------------------- pages


def kiosk_at(scene, *steps):
    """The kiosk page back on its start screen (its services), then walked through ``steps``
    (callables taking the page)."""
    if scene.kiosk_page is None:
        scene.kiosk_page = scene.context("kiosk", KIOSK_VIEWPORT).new_page()
        scene.kiosk_page.goto(f"{scene.box.url}/kiosk?device_token={scene.box.tokens['kiosco-1']}")
    page = scene.kiosk_page
    if page.is_visible("#timeout-warning"):  # the shared page sat idle while other pages were audited
        page.click("#timeout-leave")
    elif page.is_visible("#home"):
        page.click("#home")
    elif page.is_visible("#ticket-done"):
        page.click("#ticket-done")
    page.wait_for_selector(f'[data-screen="start"]{VISIBLE} [data-service="ORI"]')
    for step in steps:
        step(page)
    return page


def to_services(page):
    """The start screen is the services screen: this only checks the list is there."""
    screen(page, "start")
    page.wait_for_selector('[data-service="ORI"]')


def to_priority(page):
    """The service chosen: the ticket button, with the optional preferential choices beside it."""
    page.click('[data-service="ORI"]')
    screen(page, "confirm")


def to_preferential(page):
    page.click('[data-priority="con_infante"]')
    page.wait_for_selector('[data-priority="con_infante"][aria-pressed="true"]')


def to_document(page):
    page.click("#add-document")
    screen(page, "document")


def to_check_digit(page):
    for digit in "1234567":
        page.click(f'#doc-keypad [data-key="{digit}"]')
    page.click('#doc-keypad [data-key="8"]')  # the eighth digit moves on to the check digit
    page.wait_for_selector('#doc-keypad [data-key="K"]')


def to_other_document(page):
    page.click('[data-doc="CE"]')
    page.wait_for_selector('#doc-keypad [data-key="Ñ"]')


def to_appointment(page):
    page.click("#to-appointment")
    screen(page, "appointment")


def to_appointment_code(page):
    for key in "CT-9":
        page.click(f'#appointment-keypad [data-key="{key}"]')
    page.click("#appointment-search")  # nothing booked under that code: the message, keyboard kept
    page.wait_for_selector("#appointment-error:not(:empty)")


def to_ticket(scene):
    def step(page):
        page.click("#take-ticket")
        screen(page, "ticket")
        page.wait_for_function("document.getElementById('ticket-qr').complete")
        code = page.text_content("#ticket-code")
        mine = [t for t in scene.box.call("GET", "/queue", "sofia").json()["tickets"] if t["code"] == code]
        scene.tickets.extend(t["id"] for t in mine)
    return step


def open_kiosk_timeout_warning(scene):
    """The "more time?" prompt after the inactivity delay, on a kiosk page of its own whose clock
    the test moves."""
    page = scene.context("kiosk", KIOSK_VIEWPORT).new_page()
    page.clock.install()
    page.goto(f"{scene.box.url}/kiosk?device_token={scene.box.tokens['kiosco-1']}")
    page.wait_for_selector(f'[data-screen="start"]{VISIBLE} [data-service="ORI"]')
    to_services(page)
    to_priority(page)
    page.clock.fast_forward(31_000)
    page.wait_for_selector("#timeout-warning:not([hidden])")
    return page


def to_error(page):
    page.evaluate("""() => {  // the error screen, as after a refused ticket
        document.querySelector('[data-screen="error"] h1').textContent = 'No se pudo emitir el turno.';
        document.querySelectorAll('[data-screen]').forEach(s => s.hidden = s.dataset.screen !== 'error');
        document.getElementById('home').hidden = false; }""")


def open_display(scene):
    page = scene.context("display", {"width": 1920, "height": 1080}).new_page()
    page.goto(f"{scene.box.url}/display?device_token={scene.box.tokens['pantalla-1']}")
    page.wait_for_selector(f"#current >> text={scene.called['code']}")
    page.wait_for_selector("#clock:not(:empty)")
    return page


def open_public(scene, which, ready="#status:not(:empty)"):
    page = scene.page("phone", f"/t/{getattr(scene, which)['public_id']}", viewport={"width": 390, "height": 844})
    page.wait_for_selector(ready)
    return page


def open_counter(scene):
    page = scene.staff_page("ana", "/counter")
    page.wait_for_function("document.querySelector('#counter-state').textContent === 'Abierta'")
    page.wait_for_selector("#ticket-detail:not([hidden])")
    page.wait_for_selector(f"#waiting-body tr[data-code='{scene.waiting['code']}']")
    return page


def open_supervisor(scene):
    page = scene.staff_page("sofia", "/supervisor")
    page.wait_for_selector("#connection:not(.offline)")
    page.wait_for_selector(f"text={scene.called['code']}")
    return page


def open_supervisor_whatif(scene):
    """The "¿y si…?" with two options compared (its form, list and result table)."""
    page = open_supervisor(scene)
    page.select_option("#whatif-counter", "v2")
    page.click("#whatif-add")
    page.select_option("#whatif-counter", "v1")
    page.select_option("#whatif-action", "close")
    page.click("#whatif-add")
    page.click("#whatif-run")
    page.wait_for_selector("#whatif-table:not([hidden]) tbody tr")
    return page


def open_central(scene, server, path):
    page = scene.context("anonymous").new_page()
    page.set_extra_http_headers({"Authorization": f"Basic {server.viewer}"})  # the pages need a viewer
    assert page.goto(server.url + path).status == 200
    return page


PAGES = {
    "login": lambda s: s.page("anonymous", "/login"),
    "index": lambda s: s.page("anonymous", "/"),
    "error-404": lambda s: s.page("anonymous", "/t/no-existe", 404),
    "pair": lambda s: s.page("anonymous", "/kiosk", 401),  # a device page, no device token
    "kiosk-start": lambda s: kiosk_at(s),
    "kiosk-confirm": lambda s: kiosk_at(s, to_services, to_priority),
    "kiosk-preferential": lambda s: kiosk_at(s, to_services, to_priority, to_preferential),
    "kiosk-document": lambda s: kiosk_at(s, to_services, to_priority, to_document),
    "kiosk-check-digit": lambda s: kiosk_at(s, to_services, to_priority, to_document, to_check_digit),
    "kiosk-other-document": lambda s: kiosk_at(s, to_services, to_priority, to_document, to_other_document),
    "kiosk-appointment": lambda s: kiosk_at(s, to_services, to_appointment),
    "kiosk-appointment-code": lambda s: kiosk_at(s, to_services, to_appointment, to_appointment_code),
    "kiosk-ticket": lambda s: kiosk_at(s, to_services, to_priority, to_preferential, to_ticket(s)),
    "kiosk-error": lambda s: kiosk_at(s, to_services, to_error),
    "kiosk-timeout-warning": open_kiosk_timeout_warning,
    "display": open_display,
    "public-waiting": lambda s: open_public(s, "waiting"),
    "public-called": lambda s: open_public(s, "called"),
    "public-survey": lambda s: open_public(s, "finished", "#survey:not([hidden])"),
    "counter": open_counter,
    "supervisor": open_supervisor,
    "supervisor-whatif": open_supervisor_whatif,
    "reports": lambda s: s.staff_page("sofia", "/reports"),
    "reports-summary": lambda s: s.staff_page("sofia", "/reports/summary"),
    "admin": lambda s: s.staff_page("root", "/admin"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_meets_wcag_22_aa(scene, name):
    page = PAGES[name](scene)
    try:
        assert page.evaluate("document.documentElement.lang") == "es", "pages are in Spanish"
        violations = audit(page)
        assert violations == [], f"{name} ({page.url}) breaks WCAG 2.2 AA:\n{describe(violations)}"
    finally:
        scene.done(page)


@pytest.mark.parametrize("path", ["/", "/sedes/LIM-01"], ids=["central-overview", "central-sede"])
def test_central_page_meets_wcag_22_aa(scene, central_server, path):
    page = open_central(scene, central_server, path)
    try:
        assert page.evaluate("document.documentElement.lang") == "es"
        violations = audit(page)
        assert violations == [], f"{page.url} breaks WCAG 2.2 AA:\n{describe(violations)}"
    finally:
        scene.done(page)


def test_axe_finds_a_planted_violation(scene):
    """The vendored axe really runs: a nameless button and faint text on the login page are caught."""
    page = scene.page("anonymous", "/login")
    try:
        page.evaluate("""() => { const b = document.createElement('button');
            b.style.cssText = 'color:#ccc;background:#fff'; b.innerHTML = '<span>  </span>';
            document.querySelector('main').append(b, Object.assign(document.createElement('p'),
                {textContent: 'Texto tenue', style: 'color:#bbb'})); }""")
        assert {"button-name", "color-contrast"} <= {v["id"] for v in audit(page)}
    finally:
        scene.done(page)


@pytest.mark.parametrize("path,status", [("/login", 200), ("/kiosk", 401), ("/t/no-existe", 404), ("/", 200),
                                         ("waiting", 200), ("finished", 200)],
                         ids=["login", "pair", "error", "index", "public", "public-survey"])
def test_phone_sized_pages_reflow_at_320_px(scene, path, status):
    """WCAG 1.4.10: at 320 CSS px (a 1280 px window zoomed to 400 %) nothing scrolls sideways."""
    if not path.startswith("/"):
        path = f"/t/{getattr(scene, path)['public_id']}"
    page = scene.page("narrow", path, status, viewport={"width": 320, "height": 640})
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
    finally:
        scene.done(page)


# ---------------------------------------------------------------------- kiosk touch targets


def small_buttons(page) -> list:
    return page.evaluate("""(min) => Array.from(document.querySelectorAll('button'))
        .filter(b => b.checkVisibility())
        .map(b => { const r = b.getBoundingClientRect();
                    return [b.id || b.dataset.key || b.textContent.trim().slice(0, 30), r.width, r.height]; })
        .filter(([, w, h]) => w < min || h < min)""", MIN_TOUCH_PX)


def test_kiosk_touch_targets_are_at_least_15_mm(scene):
    """Every button of every kiosk step, on the portrait 1080×1920 screen, is ≥ 57×57 CSS px."""
    page = kiosk_at(scene)
    walk = [("start", None), ("confirm", to_priority), ("preferential", to_preferential),
            ("document", to_document), ("other-document", to_other_document),
            ("check-digit", lambda p: (p.click('[data-doc="DNI"]'), to_check_digit(p))),
            ("ticket", lambda p: (p.click('[data-go="confirm"]'), to_ticket(scene)(p))),
            ("appointment", lambda p: (p.click("#ticket-done"), to_services(p), to_appointment(p))),
            ("appointment-code", to_appointment_code), ("error", to_error)]
    try:
        seen = 0
        for step, action in walk:
            if page.is_visible("#timeout-warning"):  # a loaded machine can be slower than the kiosk's 30 s
                page.click("#timeout-continue")
            if action:
                action(page)
            seen += page.locator("button:visible").count()
            assert small_buttons(page) == [], f"kiosk step {step}: touch targets under 15 mm"
        assert seen > 80  # the walk really went through the keypads
    finally:
        scene.done(page)
