"""The admin page in plain Spanish (issue #16): a refused settings save keeps the edit and says why,
in Spanish, at its line; a pairing code shows beside its device and never in a URL; no raw
internals (ISO times, Python lists, bare codes) on the page. Chromium at 1366×768."""
import re

import pytest

from tests.conftest import PASSWORD, screenshot
from tests.test_accessibility import audit, describe

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
PYTHON_LIST = re.compile(r"\[\s*'[^']*'(\s*,\s*'[^']*')*\s*\]|\bNone\b|\bTrue\b|\bFalse\b")
RAW_KEYS = re.compile(r"\b(unspoken_languages|acked_seq|last_seq|worker_kills|cache_hits|last_error_at|"
                      r"oldest_unsynced_age_seconds)\b")


@pytest.fixture
def admin_page(live_box, browser):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima",
                                  viewport={"width": 1366, "height": 768})
    page = context.new_page()
    visited = []
    page.on("request", lambda request: visited.append(request.url))
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.goto(live_box.url + "/admin")
    page.get_by_label("Usuario").fill("root")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url("**/admin")
    page.visited = visited
    yield page
    context.close()


def in_viewport(page, selector) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= 768


def test_a_refused_save_keeps_the_edit_and_says_why_at_its_line(admin_page):
    page = admin_page
    editor = page.get_by_label("Editar sede.toml")
    original = editor.input_value()
    edited = original.replace('timezone = "America/Lima"', 'timezone = "America/Lim"')
    line = edited.split("\n").index('timezone = "America/Lim"') + 1
    editor.fill(edited)
    page.get_by_role("button", name="Validar y guardar").click()
    page.wait_for_selector("#settings-error")
    error = page.locator("#settings-error").inner_text()
    assert page.locator("#settings-text").input_value() == edited  # the edit is kept
    assert error.startswith("No se guardó") and f"línea {line}" in error and "zona horaria" in error, error
    assert "unknown" not in error and "sede.toml:" not in error  # Spanish, no file path
    assert "es válido" not in page.locator("body").inner_text()
    assert in_viewport(page, "#settings-error") and in_viewport(page, "#settings-text")
    selected = page.evaluate("() => { const e = document.getElementById('settings-text');"
                             " return e.value.slice(e.selectionStart, e.selectionEnd); }")
    assert selected == 'timezone = "America/Lim"'
    page.screenshot(path="test-artifacts/admin-settings-refused.png")
    violations = audit(page)
    assert not violations, describe(violations)

    # A TOML syntax error names its line too.
    editor = page.get_by_label("Editar sede.toml")
    broken = original.replace('name = "Sede de prueba"', 'name = "Sede de prueba')
    editor.fill(broken)
    page.get_by_role("button", name="Validar y guardar").click()
    page.wait_for_selector("#settings-error")
    error = page.locator("#settings-error").inner_text()
    line = broken.split("\n").index('name = "Sede de prueba') + 1
    assert f"línea {line}" in error and "no es TOML válido" in error, error
    assert page.locator("#settings-text").input_value() == broken
    assert in_viewport(page, "#settings-error")


def test_a_pairing_code_shows_beside_its_device_and_in_no_url(admin_page):
    page = admin_page
    page.locator("#device-name").fill("pantalla-pasillo")
    page.locator("#device-role").select_option("display")
    page.locator("#pair-device").get_by_label("Defensa de víctimas").check()
    page.get_by_role("button", name="Generar código de vinculación").click()
    page.wait_for_selector("#pairing-code")
    code = page.locator("#pairing-code").inner_text().replace(" ", "")
    assert re.fullmatch(r"\d{8}", code)
    row = page.locator("#pairing-row")
    assert row.locator("td").first.inner_text() == "pantalla-pasillo"
    assert "Pantalla de sala" in row.inner_text()
    assert in_viewport(page, "#pairing-code")
    page.screenshot(path="test-artifacts/admin-pairing-beside-device.png")
    violations = audit(page)
    assert not violations, describe(violations)
    assert page.visited and not [url for url in page.visited if code in url]


def test_the_admin_page_shows_no_raw_internals(admin_page, live_box):
    page = admin_page
    live_box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI"})
    page.reload()
    screenshot(page, "admin-overview")
    text = page.locator("main").inner_text()
    assert not ISO_TIME.search(text), ISO_TIME.search(text).group(0)
    assert not PYTHON_LIST.search(text), PYTHON_LIST.search(text).group(0)
    assert not RAW_KEYS.search(text), RAW_KEYS.search(text).group(0)
    health = page.locator("#health-voice").inner_text()
    assert "Sin voz para: Runasimi (Quechua)" in health, health
    users = page.locator("#usuarios").inner_text()
    assert "Personal" in users and "Supervisor(a)" in users and "Administrador(a)" in users
    assert "Defensa de víctimas" in page.locator("#equipos tbody").inner_text()  # pantalla-vic's service by name
    audit = page.locator("#auditoria tbody").inner_text()
    assert re.search(r"hace (un momento|\d+ min)", audit), audit
