"""The translation studio (issue #13): strings translated in the sede reach citizens only once a
second person reviewed them, in every process of the box; placeholders are kept; PO files go
out and come back as borrador; a translator reaches the studio and nothing else. The text here is
throw-away test content, never a real translation."""
from __future__ import annotations

import io
import sqlite3
import subprocess
import sys

import pytest
import requests
from babel.messages.pofile import read_po, write_po

from tests.conftest import PASSWORD, USERS, add_users_fast, error_code, screenshot, wait_for
from turnero import i18n
from turnero.errors import DomainError
from turnero.store import Store
from turnero.translation_po import export_po, import_po
from turnero.translations import Translations, placeholders, translatable_keys, units

KEY = "kiosk.choose_service"


@pytest.fixture
def studio(tmp_path):
    store = Store(tmp_path / "box.db")
    translations = Translations(store)
    i18n.init(translations)
    yield translations
    i18n.init(None)
    store.close()


def codes(call, *args, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_a_second_person_reviews_and_only_then_citizens_see_it(studio):
    assert KEY in i18n.shipped("es") and KEY not in i18n.catalog("ay")
    saved = studio.save("ay", KEY, "PRUEBA ay elija", "rosa")
    assert saved["state"] == "borrador" and saved["author"] == "rosa"
    assert KEY not in i18n.catalog("ay")  # a borrador is never shown
    assert i18n.translate(KEY, "ay") == i18n.translate(KEY, "es")
    assert codes(studio.review, "ay", KEY, "rosa") == "own_translation"
    assert codes(studio.review, "ay", KEY, "juan", seen_text="otro texto") == "translation_changed"
    reviewed = studio.review("ay", KEY, "juan", seen_text="PRUEBA ay elija")
    assert (reviewed["state"], reviewed["reviewer"]) == ("revisado", "juan")
    assert i18n.catalog("ay")[KEY] == "PRUEBA ay elija" == i18n.translate(KEY, "ay")
    assert i18n.messages("ay", "kiosk.")[KEY] == "PRUEBA ay elija"
    assert codes(studio.review, "ay", KEY, "juan") == "already_reviewed"

    studio.save("ay", KEY, "PRUEBA ay elija otra vez", "juan")  # a change sends it back
    assert studio.entries("ay")[KEY]["state"] == "borrador" and KEY not in i18n.catalog("ay")
    studio.review("ay", KEY, "rosa")
    assert i18n.translate(KEY, "ay") == "PRUEBA ay elija otra vez"
    assert codes(studio.save, "es", KEY, "x", "rosa") == "invalid_language"  # Spanish is the source
    assert studio.discard("ay", KEY, "rosa") and KEY not in i18n.catalog("ay")

    actions = [row["action"] for row in studio.store.read("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["translation.save", "translation.review", "translation.save", "translation.review",
                       "translation.discard"]


def test_placeholders_must_match_the_spanish_source(studio):
    key = "kiosk.appointment_at"
    source = i18n.shipped("es")[key]
    assert "{time}" in source
    with pytest.raises(DomainError) as caught:
        studio.save("shp", key, "PRUEBA sin marcador", "rosa")
    assert caught.value.code == "placeholder_mismatch" and caught.value.status == 422
    assert "{time}" in caught.value.message and "falta" in caught.value.message
    assert codes(studio.save, "shp", key, source.replace("{time}", "{time} {otro}"), "rosa") == "placeholder_mismatch"
    assert codes(studio.save, "shp", key, "PRUEBA {time", "rosa") == "placeholder_mismatch"
    kept = "PRUEBA " + " ".join(f"{{{name}}}" for name in sorted(placeholders(source)))
    assert studio.save("shp", key, kept, "rosa")["text"] == kept
    assert list(studio.entries("shp")) == [key]


def test_plural_messages_offer_the_forms_the_language_uses():
    plural_keys = {unit["key"]: [key for key, _ in unit["forms"]] for unit in units("en") if unit.get("plural")}
    assert plural_keys["kiosk.eta_about"] == ["kiosk.eta_about.one", "kiosk.eta_about.other"]
    # no plural rule yet: only the general form (i18n shows Spanish forms until there is a rule)
    assert {unit["key"]: [key for key, _ in unit["forms"]] for unit in units("qu")
            if unit.get("plural")}["kiosk.eta_about"] == ["kiosk.eta_about.other"]


def test_a_review_in_another_process_reaches_this_one(studio, tmp_path):
    studio.save("shp", KEY, "PRUEBA shp elija", "rosa")
    assert KEY not in i18n.catalog("shp")
    script = ("import sys; from turnero.store import Store; from turnero.translations import Translations;"
              "Translations(Store(sys.argv[1])).review('shp', sys.argv[2], 'juan')")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "box.db"), KEY], check=True, timeout=60)
    assert wait_for(lambda: i18n.catalog("shp").get(KEY) == "PRUEBA shp elija")


def test_a_moment_the_database_cannot_be_read_hides_a_review_only_until_the_next_check(studio, monkeypatch):
    studio.save("ay", KEY, "PRUEBA ay leída", "rosa")
    studio.review("ay", KEY, "juan")
    i18n.init(studio)  # a process starting now: nothing read yet
    read = studio.store.read

    def unreadable(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(studio.store, "read", unreadable)
    assert studio.reviewed("ay") is None
    assert i18n.catalog("ay").get(KEY) == i18n.shipped("ay").get(KEY)  # the files: a page never fails
    monkeypatch.setattr(studio.store, "read", read)
    i18n.refresh()  # the next once-a-second check
    assert i18n.catalog("ay")[KEY] == "PRUEBA ay leída"


def test_po_round_trip_arrives_as_borrador(studio):
    studio.save("ay", KEY, "PRUEBA ay uno", "rosa")
    exported = read_po(io.BytesIO(export_po(studio, "ay")))
    entries = {message.context: message for message in exported if message.id}
    assert entries[KEY].string == "PRUEBA ay uno" and entries[KEY].fuzzy  # a borrador needs review
    assert entries[KEY].id == i18n.shipped("es")[KEY]
    placeholder_key = "kiosk.appointment_at"
    entries[KEY].string = "PRUEBA ay dos"
    entries["kiosk.title"].string = "PRUEBA ay título"
    entries[placeholder_key].string = "PRUEBA sin marcador"
    out = io.BytesIO()
    write_po(out, exported)
    report = import_po(studio, "ay", out.getvalue(), "juan")
    assert sorted(report["accepted"]) == sorted([KEY, "kiosk.title"])
    assert [(item["key"], item["code"]) for item in report["refused"]] == [(placeholder_key, "placeholder_mismatch")]
    entries = studio.entries("ay")
    assert entries[KEY]["state"] == entries["kiosk.title"]["state"] == "borrador"
    assert entries[KEY]["author"] == "juan"  # the importing person: someone else reviews
    assert "kiosk.title" not in i18n.catalog("ay")
    with pytest.raises(DomainError) as caught:
        import_po(studio, "ay", b"\xff\xfe not a po", "juan")
    assert caught.value.code == "invalid_po"


def test_check_command_reports_per_surface(tmp_path):
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    Translations(store).save("ay", KEY, "PRUEBA ay elija", "rosa")
    store.close()
    result = subprocess.run([sys.executable, "-m", "turnero.cli", "i18n-check", "--languages", "ay",
                             "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    kiosk = next(line for line in result.stdout.splitlines() if line.strip().startswith("kiosk"))
    assert "borrador    1" in kiosk and "revisado    0" in kiosk


# ------------------------------------------------------------------ who may open the studio

def _session(client, token):
    with client.session_transaction() as session:
        session["token"] = token


def test_a_translator_signing_in_lands_on_the_studio(app):
    import re

    add_users_fast(app.extensions["turnero"].store, {**USERS, "tina": "traductor"})

    def sign_in(username, **extra):
        client = app.test_client()
        form = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        return client, client.post("/login", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": csrf, **extra})

    client, signed_in = sign_in("tina")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/admin/traducciones"
    assert client.get("/admin/traducciones").status_code == 200
    assert sign_in("ana")[1].headers["Location"] == "/counter"  # every other role starts at its console
    assert sign_in("tina", next="/admin/traducciones/ay")[1].headers["Location"] == "/admin/traducciones/ay"


def test_a_translator_reaches_the_studio_and_nothing_else(app):
    store = app.extensions["turnero"].store
    tokens = add_users_fast(store, {**USERS, "tina": "traductor"})
    client = app.test_client()
    _session(client, tokens["tina"])
    for path in ("/counter", "/supervisor", "/reports", "/admin"):
        response = client.get(path)
        assert response.status_code in (302, 403), path
        assert response.status_code == 403 or "/login" in response.headers["Location"], path
    bearer = {"Authorization": f"Bearer {tokens['tina']}"}
    for path in ("/tickets", "/tickets/x", "/counters", "/queue", "/services", "/events?after=0", "/stats",
                 "/supervision", "/appointments", "/board"):
        response = client.get("/api/v1" + path, headers=bearer)
        assert response.status_code == 403 and error_code(response) == "forbidden", path
    assert client.post("/api/v1/tickets", json={"service": "ORI"}, headers=bearer).status_code == 403
    assert client.get("/admin/traducciones").status_code == 200
    page = client.get("/admin/traducciones/ay")
    assert page.status_code == 200 and "kiosk.title" in page.get_data(as_text=True)

    csrf = _csrf(client, "/admin/traducciones/ay")
    answer = client.post("/admin/traducciones/ay/guardar", json={"key": KEY, "text": "PRUEBA sin {x}"},
                         headers={"X-CSRFToken": csrf})
    assert answer.status_code == 422 and error_code(answer) == "placeholder_mismatch"
    assert "marcadores" in answer.get_json()["error"]["message"]
    no_csrf = client.post("/admin/traducciones/ay/guardar", json={"key": KEY, "text": "PRUEBA"})
    assert no_csrf.status_code == 400 and error_code(no_csrf) == "csrf_failed"
    saved = client.post("/admin/traducciones/ay/guardar", json={"key": KEY, "text": "PRUEBA ay"},
                        headers={"X-CSRFToken": csrf})
    assert saved.status_code == 200 and saved.get_json()["state"] == "borrador"
    own = client.post("/admin/traducciones/ay/revisar", json={"key": KEY, "text": "PRUEBA ay"},
                      headers={"X-CSRFToken": csrf})
    assert own.status_code == 409 and error_code(own) == "own_translation"

    staff = app.test_client()
    _session(staff, tokens["ana"])
    assert staff.get("/admin/traducciones").status_code == 403  # counter staff are not translators
    admin = app.test_client()
    _session(admin, tokens["root"])
    exported = admin.get("/admin/traducciones/ay.po")
    assert exported.status_code == 200 and b'msgctxt "kiosk.title"' in exported.data
    catalog = read_po(io.BytesIO(exported.data))
    next(message for message in catalog if message.context == "kiosk.title").string = "PRUEBA ay título"
    upload = io.BytesIO()
    write_po(upload, catalog)
    form = {"csrf_token": _csrf(admin, "/admin/traducciones/ay"), "po": (io.BytesIO(upload.getvalue()), "ay.po")}
    imported = admin.post("/admin/traducciones/ay/importar", data=form, content_type="multipart/form-data")
    assert imported.status_code == 200, imported.get_data(as_text=True)[:300]
    assert "Aceptadas (en borrador): 1" in imported.get_data(as_text=True)
    refused = admin.post("/admin/traducciones/ay/importar", content_type="multipart/form-data",
                         data={"po": (io.BytesIO(upload.getvalue()), "ay.po")})
    assert refused.status_code == 400  # no CSRF token
    i18n.init(None)


def _csrf(client, path) -> str:
    import re

    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


# ------------------------------------------------------------------------------ Chromium

def _login(context, url, username):
    page = context.new_page()
    page.goto(url + "/admin/traducciones")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url("**/admin/traducciones")
    return page


def test_translate_review_and_see_it_on_the_kiosk(live_box, browser):
    """A translator writes a kiosk string, an admin reviews it, the kiosk shows it in Quechua.
    The string is discarded at the end: the shared box's kiosk offers Quechua only while it has one."""
    import secrets

    from argon2 import PasswordHasher

    from turnero.accounts import Accounts

    store = Store.in_data_dir(live_box.data_dir)
    if not any(user["username"] == "tina" for user in Accounts(store).users()):
        with store.write() as tx:
            tx.execute("INSERT INTO users (username, role, password_hash, created_at) VALUES ('tina', 'traductor', ?, ?)",
                       (PasswordHasher().hash(PASSWORD), tx.now))
    translations = Translations(store)
    text = f"PRUEBA qu kiosk heading {secrets.token_hex(2)}"
    translator = browser.new_context(locale="es-PE", timezone_id="America/Lima", viewport={"width": 1366, "height": 768})
    # The reviewer's page runs under the box's Content-Security-Policy: studio.js must work there.
    reviewer = browser.new_context(locale="es-PE", timezone_id="America/Lima", viewport={"width": 1366, "height": 768},
                                   bypass_csp=False)
    try:
        page = _login(translator, live_box.url, "tina")
        screenshot(page, "studio-languages")
        page.get_by_role("link", name="Runasimi (Quechua)").click()
        page.wait_for_url("**/admin/traducciones/qu")
        page.screenshot(path="test-artifacts/studio-top.png")
        row = page.locator('.form-row[data-key="kiosk.choose_service"]')
        row.locator("textarea").fill("PRUEBA sin marcador {x}")
        row.get_by_role("button", name="Guardar borrador").click()
        row.locator(".message.error").wait_for()
        assert "marcadores" in row.locator(".message").inner_text()
        row.locator("textarea").fill(text)
        row.get_by_role("button", name="Guardar borrador").click()
        row.locator(".message.ok").wait_for()
        assert row.locator(".state").inner_text() == "Borrador" and "tina" in row.locator(".who").inner_text()
        assert row.get_by_role("button", name="Marcar como revisado").is_hidden()  # not one's own
        page.set_viewport_size({"width": 1366, "height": 768})
        row.scroll_into_view_if_needed()
        page.screenshot(path="test-artifacts/studio-translator.png")
        overflow = page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
        assert not overflow

        kiosk_languages = _kiosk_languages(live_box)
        assert "qu" not in kiosk_languages  # a borrador reaches no citizen

        page = _login(reviewer, live_box.url, "root")
        page.goto(live_box.url + "/admin/traducciones/qu?estado=borrador")
        row = page.locator('.form-row[data-key="kiosk.choose_service"]')
        assert row.locator("textarea").input_value() == text
        row.get_by_role("button", name="Marcar como revisado").click()
        row.locator(".message.ok").wait_for()
        assert row.locator(".state").inner_text() == "Revisado"
        assert "revisado por root" in row.locator(".who").inner_text()
        page.screenshot(path="test-artifacts/studio-reviewer.png")

        # The kiosk offers a language once all its kiosk and slip strings are reviewed
        # (kiosk/speech.py): the rest are laid here as throw-away strings.
        rest = {key: source for key, source in translatable_keys("qu").items()
                if key.startswith(("kiosk.", "printer.")) and key != "kiosk.choose_service"}
        translations.save_many("qu", [(key, "PRUEBA " + source) for key, source in rest.items()], "tina")
        for key in rest:
            translations.review("qu", key, "root")
        # the web worker checks the version at most once a second
        assert wait_for(lambda: "qu" in _kiosk_languages(live_box))
        kiosk = browser.new_context(locale="es-PE", viewport={"width": 1366, "height": 768})
        try:
            kiosk_page = kiosk.new_page()
            kiosk_page.goto(f"{live_box.url}/kiosk?device_token={live_box.tokens['kiosco-1']}")
            kiosk_page.get_by_role("button", name="Runasimi (Quechua)").click()
            kiosk_page.get_by_text(text).wait_for()
            screenshot(kiosk_page, "studio-kiosk-qu")
        finally:
            kiosk.close()
    finally:
        translator.close()
        reviewer.close()
        for key in translations.entries("qu"):
            if key.startswith(("kiosk.", "printer.")):
                translations.discard("qu", key, "test")
        store.close()
    assert wait_for(lambda: "qu" not in _kiosk_languages(live_box))


def _kiosk_languages(live_box) -> list[str]:
    import json
    import re

    session = requests.Session()
    html = session.get(f"{live_box.url}/kiosk?device_token={live_box.tokens['kiosco-1']}", timeout=10).text
    config = json.loads(re.search(r'<script id="kiosk-config" type="application/json">(.*?)</script>', html, re.S).group(1))
    return [language["code"] for language in config["languages"]]
