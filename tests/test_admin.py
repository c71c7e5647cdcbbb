"""The admin pages: users, device pairing by one-time code, revocation, audit view; roles and CSRF."""
import html
import re

import pytest

from tests.conftest import PASSWORD, screenshot


def csrf(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def login(client, username):
    token = csrf(client)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                           "next": "/admin"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return csrf(client, "/admin") if username == "root" else token


@pytest.fixture
def admin_client(app, tokens):
    client = app.test_client()
    return client, login(client, "root")


def test_login_required_and_role_checked(app, tokens):
    anonymous = app.test_client().get("/admin")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    staff = app.test_client()
    login(staff, "ana")
    refused = staff.get("/admin")
    assert refused.status_code == 403 and "no permite" in refused.get_data(as_text=True)


def test_user_lifecycle(app, admin_client):
    client, token = admin_client
    page = client.post("/admin/users", data={"username": "nuevo", "role": "staff", "password": "corta",
                                             "csrf_token": token}, follow_redirects=True)
    assert "al menos 8 caracteres" in page.get_data(as_text=True)  # readable error, nothing created
    assert "nuevo" not in [u["username"] for u in app.extensions["turnero"].accounts.users()]
    page = client.post("/admin/users", data={"username": "nuevo", "role": "staff", "password": PASSWORD,
                                             "csrf_token": token}, follow_redirects=True)
    assert "Usuario nuevo creado" in page.get_data(as_text=True)
    accounts = app.extensions["turnero"].accounts
    session = accounts.login("nuevo", PASSWORD)["token"]
    client.post("/admin/users/nuevo/active", data={"active": "0", "csrf_token": token})
    assert accounts.authenticate(session, 0) is None  # deactivation ends sessions
    with pytest.raises(Exception):
        accounts.login("nuevo", PASSWORD)


def test_forms_need_csrf(app, admin_client):
    client, _ = admin_client
    response = client.post("/admin/users", data={"username": "x1", "role": "staff", "password": PASSWORD})
    assert response.status_code == 400
    assert "x1" not in [u["username"] for u in app.extensions["turnero"].accounts.users()]


def test_pairing_code_pairs_once_and_revoke_works(app, admin_client):
    client, token = admin_client
    response = client.post("/admin/devices/pair", data={"name": "pantalla-2", "role": "display",
                                                        "services": ["VIC"], "csrf_token": token})
    assert response.status_code == 200 and "Location" not in response.headers  # the code is in no URL
    page = response.get_data(as_text=True)
    code = re.search(r'id="pairing-code">(\d{4}) (\d{4})<', page).expand(r"\1\2")
    assert code not in client.get("/admin").get_data(as_text=True)  # shown once

    device = app.test_client()
    pair_token = csrf(device, "/login")
    wrong = device.post("/pair", data={"code": "00000000", "csrf_token": pair_token})
    assert wrong.status_code == 422 and "incorrecto o vencido" in wrong.get_data(as_text=True)
    paired = device.post("/pair", data={"code": f"{code[:4]} {code[4:]}", "csrf_token": pair_token})
    assert paired.status_code == 302 and paired.headers["Location"] == "/display"
    cookie = device.get_cookie("turnero_display")
    principal = app.extensions["turnero"].accounts.authenticate(cookie.value, 0)
    assert principal["name"] == "pantalla-2" and principal["services"] == ["VIC"]
    assert cookie.http_only

    again = app.test_client()
    reuse = again.post("/pair", data={"code": code, "csrf_token": csrf(again, "/login")})
    assert reuse.status_code == 422  # one time only

    client.post("/admin/devices/pantalla-2/revoke", data={"csrf_token": token})
    assert app.extensions["turnero"].accounts.authenticate(cookie.value, 0) is None


def test_admin_actions_are_audited(app, admin_client):
    client, token = admin_client
    client.post("/admin/users", data={"username": "auditado", "role": "staff", "password": PASSWORD,
                                      "csrf_token": token})
    page = client.get("/admin").get_data(as_text=True)
    assert "Cadena íntegra" in page
    # in plain Spanish, the recorded action kept beside it for support
    assert re.search(r"Alta de usuario\s*<small class=\"audit-raw\"[^>]*>POST /admin/users</small>", page)


def test_reads_of_personal_data_are_worded_in_the_audit(app):
    from admin.present import audit_action

    with app.app_context():
        words = audit_action("read GET /api/v1/appointments", app.url_map)
        assert words == "Lectura de datos personales: búsqueda de citas"
        # a read of a route the catalog does not name still says it was a read, and of what
        assert audit_action("read GET /api/v1/no-such-route", app.url_map) == (
            "Lectura de datos personales: GET /api/v1/no-such-route")


def test_admin_page_in_chromium(live_box, browser):
    context = browser.new_context(locale="es-PE")
    page = context.new_page()
    page.goto(live_box.url + "/admin")
    page.get_by_label("Usuario").fill("root")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url("**/admin")
    page.locator("#device-name").fill("pantalla-browser")
    page.locator("#device-role").select_option("display")
    page.get_by_role("button", name="Generar código de vinculación").click()
    code = page.locator("#pairing-code").inner_text().replace(" ", "")
    assert re.fullmatch(r"\d{8}", code)
    screenshot(page, "admin-pairing")

    device = browser.new_context(locale="es-PE").new_page()
    device.goto(live_box.url + "/display")
    device.get_by_label("Código de vinculación").fill(code)
    device.get_by_role("button", name="Vincular este equipo").click()
    device.wait_for_url("**/display")
    assert device.locator("#pair-code").count() == 0  # the display itself, not the pairing form
    device.context.close()
    context.close()


def _settings_form(client, token, text, **kwargs):
    return client.post("/admin/settings", data={"settings": text, "csrf_token": token}, **kwargs)


def test_settings_editor_refuses_a_bad_file_and_changes_nothing(app, admin_client, data_dir):
    client, token = admin_client
    original = (data_dir / "sede.toml").read_text(encoding="utf-8")
    audited_before = len(app.extensions["turnero"].store.read("SELECT id FROM audit_log"))
    cases = {
        original.replace('code = "PEN"\nprefix = "B"', 'code = "PEN"\nprefix = "A"'): "prefix",
        original + "\n[sync]\nintervalo = 5\n": "intervalo",
        original.replace('timezone = "America/Lima"', 'timezone = "America/Lim"'): "timezone",
        "[sede\n": "no es TOML válido",
    }
    for text, problem in cases.items():
        page = _settings_form(client, token, text, follow_redirects=True).get_data(as_text=True)
        assert "No se guardó" in page and problem in page, problem
    assert (data_dir / "sede.toml").read_text(encoding="utf-8") == original
    assert not (data_dir / "sede.toml.new").exists() and not (data_dir / "sede.toml.prev").exists()
    store = app.extensions["turnero"].store
    assert len(store.read("SELECT id FROM audit_log")) == audited_before  # nothing changed, nothing recorded


def test_settings_editor_saves_keeps_the_previous_file_and_records_it(app, admin_client, data_dir):
    client, token = admin_client
    original = (data_dir / "sede.toml").read_text(encoding="utf-8")
    edited = original.replace('names = { es = "Defensa penal" }', 'names = { es = "Defensa penal (mañana)" }')
    page = _settings_form(client, token, edited.replace("\n", "\r\n"), follow_redirects=True).get_data(as_text=True)
    assert "se aplicará al reiniciar" in page
    assert (data_dir / "sede.toml").read_text(encoding="utf-8") == edited
    assert (data_dir / "sede.toml.prev").read_text(encoding="utf-8") == original
    row = app.extensions["turnero"].store.read_one(
        "SELECT * FROM audit_log WHERE action = 'POST /admin/settings'")
    assert row["actor"] == "root" and row["target"] == "sede.toml"
    assert "before_sha256" in row["details"] and "after_sha256" in row["details"]
    again = _settings_form(client, token, edited, follow_redirects=True).get_data(as_text=True)
    assert "no cambió" in again


def test_settings_editor_is_for_admins_with_csrf(app, tokens, data_dir):
    original = (data_dir / "sede.toml").read_text(encoding="utf-8")
    supervisor = app.test_client()
    login(supervisor, "sofia")
    token = csrf(supervisor, "/supervisor")
    assert _settings_form(supervisor, token, original + "\n# x\n").status_code == 403
    admin = app.test_client()
    login(admin, "root")
    assert _settings_form(admin, "not-the-token", original + "\n# x\n").status_code == 400
    assert (data_dir / "sede.toml").read_text(encoding="utf-8") == original


def test_settings_saved_in_the_browser_apply_without_a_manual_restart(tmp_path, browser):
    """Under `turnero run` a saved sede.toml is applied by a fresh worker: the API shows it, and the
    event sequence goes on without a gap."""
    import requests

    from tests.conftest import LiveBox, wait_for, write_sede

    box = LiveBox(write_sede(tmp_path / "data")).prepare().start()
    try:
        first = box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI"})
        assert first.status_code == 201
        page = browser.new_context(locale="es-PE").new_page()
        page.goto(box.url + "/admin")
        page.get_by_label("Usuario").fill("root")
        page.get_by_label("Contraseña").fill(PASSWORD)
        page.get_by_role("button", name="Ingresar").click()
        page.wait_for_url("**/admin")
        editor = page.get_by_label("Editar sede.toml")
        editor.fill(editor.input_value().replace('"Defensa penal"', '"Defensa penal y de víctimas"'))
        page.get_by_role("button", name="Validar y guardar").click()
        page.wait_for_url("**/admin*")
        assert "aplicando" in page.locator("body").inner_text()
        screenshot(page, "admin-settings-saved")
        page.context.close()

        def renamed():
            try:
                services = box.call("GET", "/services", "kiosco-1").json()["services"]
            except (requests.RequestException, ValueError):
                return False
            return any(service["names"]["es"] == "Defensa penal y de víctimas" for service in services)

        assert wait_for(renamed, 30)
        second = box.call("POST", "/tickets", "kiosco-1", json={"service": "PEN"})
        assert second.status_code == 201
        events = box.call("GET", "/events?after=0", "ana").json()["events"]
        assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    finally:
        box.stop()


def test_admin_page_tests_the_printer_and_the_voice(app, admin_client):
    client, token = admin_client
    page = client.get("/admin").get_data(as_text=True)
    assert "Imprimir ticket de prueba" in page and "Probar la voz" in page
    no_printer = client.post("/admin/test/printer", data={"csrf_token": token}, follow_redirects=True)
    assert "no tiene impresora" in no_printer.get_data(as_text=True)
    voice = client.post("/admin/test/voice", data={"csrf_token": token}, follow_redirects=True)
    assert "Voz lista: «A-001» en es" in voice.get_data(as_text=True)
    assert any(app.extensions["turnero.voice"].cache_dir.glob("*.wav"))
    unknown = client.post("/admin/test/scanner", data={"csrf_token": token}, follow_redirects=True)
    assert "no está disponible" in unknown.get_data(as_text=True)


def test_printer_test_prints_a_sample_slip_or_says_why_not(tmp_path, clock):
    from tests.escpos_capture import CaptureServer
    from tests.test_printing import printer_sede, socket_closed_port
    from turnero import create_app
    from turnero.errors import DomainError

    from tests.conftest import write_sede

    server = CaptureServer()
    try:
        data_dir = write_sede(tmp_path / "data", printer_sede(server.port))
        app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
        try:
            message = app.extensions["turnero.device_tests"]["printer"]()
            assert "enviado" in message
            data = server.wait_jobs(1)[0]
            assert "Ticket de prueba".encode("cp858") in data and b"A-000" in data
            assert app.extensions["turnero"].store.read_one("SELECT COUNT(*) FROM tickets")[0] == 0
            server.reset("paper_out")
            with pytest.raises(DomainError) as refused:
                app.extensions["turnero.device_tests"]["printer"]()
            assert refused.value.code == "printer_failed" and "no imprimió" in refused.value.message
        finally:
            app.extensions["turnero"].stop()
            app.extensions["turnero"].store.close()
    finally:
        server.close()
    with socket_closed_port() as port:
        data_dir = write_sede(tmp_path / "down", printer_sede(port))
        app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
        try:
            with pytest.raises(DomainError, match="no imprimió"):
                app.extensions["turnero.device_tests"]["printer"]()
            assert app.extensions["printers"].health()["status"] == "error"
        finally:
            app.extensions["turnero"].stop()
            app.extensions["turnero"].store.close()


def test_settings_editor_refuses_to_drop_a_service_or_counter_still_in_use(app, admin_client, data_dir):
    client, token = admin_client
    engine = app.extensions["turnero"].engine
    original = (data_dir / "sede.toml").read_text(encoding="utf-8")
    waiting, _ = engine.issue("CON", channel="staff")
    engine.open_counter("c1", "ana")
    without_con = original.replace('''[[services]]
code = "CON"''', '''[[services]]
code = "CNX"''').replace('services = ["ORI", "CON"]', 'services = ["ORI"]')
    without_c1 = original.replace('id = "c1"', 'id = "c9"')
    for text, named in ((without_con, "CON"), (without_c1, "c1")):
        page = _settings_form(client, token, text, follow_redirects=True).get_data(as_text=True)
        assert "todavía se usan" in page and named in page, named
    assert (data_dir / "sede.toml").read_text(encoding="utf-8") == original
    assert not (data_dir / "sede.toml.new").exists()
    engine.cancel(waiting["id"], "sofia")
    engine.close_counter("c1", "ana")
    page = _settings_form(client, token, without_con, follow_redirects=True).get_data(as_text=True)
    assert "se aplicará al reiniciar" in page  # once nothing uses them, they can go


def test_settings_that_name_a_command_or_a_file_are_refused_from_the_web(app, admin_client, data_dir, tmp_path):
    client, token = admin_client
    original = (data_dir / "sede.toml").read_text(encoding="utf-8")
    marker, victim = tmp_path / "ran", tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    audited_before = len(app.extensions["turnero"].store.read("SELECT id FROM audit_log"))
    attempts = {
        "voice.worker_command": original + f'\n[voice]\nworker_command = "touch {marker}"\n',
        "printer.file_path": original.replace('type = "none"', f'type = "file"\nfile_path = "{victim}"'),
        "voice.pack_dir": original + '\n[voice]\npack_dir = "/etc"\n',
        "printer.logo": original.replace('type = "none"', 'type = "none"\nlogo = "/etc/shadow"'),
        "printer.serial_device": original.replace('type = "none"', 'type = "serial"\nserial_device = "/dev/sda"'),
    }
    for key, text in attempts.items():
        response = _settings_form(client, token, text)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, key
        assert key in page and "solo se cambia en el archivo del equipo" in page, key
        assert text.strip() in html.unescape(page)  # the edit is kept on the page, not thrown away
    assert (data_dir / "sede.toml").read_text(encoding="utf-8") == original
    assert not (data_dir / "sede.toml.new").exists()
    assert not marker.exists() and victim.read_text() == "keep me\n"
    assert len(app.extensions["turnero"].store.read("SELECT id FROM audit_log")) == audited_before


def test_a_box_only_setting_written_on_the_box_survives_other_edits_from_the_web(app, admin_client, data_dir):
    client, token = admin_client
    on_the_box = (data_dir / "sede.toml").read_text(encoding="utf-8") + '\n[voice]\nworker_command = ""\npack_dir = ""\n'
    (data_dir / "sede.toml").write_text(on_the_box, encoding="utf-8")
    edited = on_the_box.replace('name = "Sede de prueba"', 'name = "Sede de prueba 2"')
    response = _settings_form(client, token, edited, follow_redirects=True)
    assert response.status_code == 200 and "se aplicará al reiniciar" in response.get_data(as_text=True)
    assert (data_dir / "sede.toml").read_text(encoding="utf-8") == edited


def test_a_hand_edited_sync_table_that_does_not_load_is_explained_in_spanish(app, admin_client, data_dir):
    from tests.conftest import SEDE_TOML, write_sede

    client, _ = admin_client
    write_sede(data_dir, SEDE_TOML + '\n[sync]\ncentral_url = "ftp://central.example"\n')
    health = client.get("/healthz").get_json()["sync"]
    assert health["settings_error_code"] == "sync.central_url:url"  # for machines
    page = html.unescape(client.get("/admin").get_data(as_text=True))
    sync = page[page.index('id="health-sync"'):]
    sync = sync[:sync.index("</ul>")] if "</ul>" in sync else sync[:2000]
    assert "sync.central_url debe ser una dirección que empiece con http:// o https://." in sync
    assert "must be" not in page and "settings_error_code" not in page
