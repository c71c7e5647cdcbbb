"""The public status page /t/<public_id>: what a person sees on a phone after scanning the QR."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import screenshot


@pytest.fixture
def phone(browser):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima",
                                  viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


def test_public_page_updates_live_when_called_and_shows_no_personal_data(phone, live_box):
    ticket = live_box.call("POST", "/tickets", "beto", json={
        "service": "VIC", "document": {"type": "DNI", "number": "45454545"}, "name": "Maribel Huamán"}).json()
    phone.goto(f"{live_box.url}/t/{ticket['public_id']}")
    assert phone.text_content("#code") == ticket["code"]
    assert phone.text_content("#status") == "En espera"
    assert phone.text_content("#service") == "Atención reservada", "a discreet service shows its neutral label"
    expect(phone.locator("#position")).not_to_be_empty()
    screenshot(phone, "public-01-waiting")
    phone.wait_for_function("window.io && document.getElementById('offline').hidden")

    live_box.release("c1")  # the session's box is shared: another test may hold c1
    call = live_box.call("POST", f"/tickets/{ticket['id']}/call", "beto", json={"counter": "c1"})
    try:
        assert call.status_code == 200, call.text
        expect(phone.locator("#status")).to_have_text("¡Le están llamando!")
        expect(phone.locator("#where")).to_have_text("Acérquese ahora a: Consultorio 1")
        assert phone.is_hidden("#queue")
        html = phone.content()
        for secret in ("45454545", "Maribel", "Huamán", "víctimas", "beto"):
            assert secret not in html
        screenshot(phone, "public-02-called")
    finally:
        live_box.call("POST", f"/tickets/{ticket['id']}/start", "beto")
        live_box.call("POST", f"/tickets/{ticket['id']}/finish", "beto", json={"outcome": "resolved"})
        live_box.call("POST", "/counters/c1/close", "beto")
    expect(phone.locator("#status")).to_have_text("Atendido")


def test_public_page_in_the_ticket_language(phone, live_box):
    ticket = live_box.call("POST", "/tickets", "beto", json={"service": "ORI", "language": "en"}).json()
    phone.goto(f"{live_box.url}/t/{ticket['public_id']}")
    assert phone.evaluate("document.documentElement.lang") == "en"
    assert phone.text_content("h1") == "Your ticket"
    assert phone.text_content("#status") == "Waiting"
    assert phone.text_content("#service") == "Legal advice"


def test_quechua_ticket_falls_back_to_spanish_text(phone, live_box):
    ticket = live_box.call("POST", "/tickets", "beto", json={"service": "ORI", "language": "qu"}).json()
    phone.goto(f"{live_box.url}/t/{ticket['public_id']}")
    assert phone.text_content("#status") == "En espera"


def test_unknown_public_id_is_a_readable_404(phone, live_box):
    response = phone.goto(f"{live_box.url}/t/no-existe-123")
    assert response.status == 404
    assert "ticket" in phone.content().lower() or "turno" in phone.content().lower()
    response = phone.goto(f"{live_box.url}/t/{'x' * 80}")
    assert response.status == 404


def test_public_page_polls_when_sockets_are_unavailable(phone, live_box):
    """With the Socket.IO script blocked the page still learns of the call by polling."""
    phone.route("**/socket.io.min.js", lambda route: route.abort())
    phone.clock.install()
    ticket = live_box.call("POST", "/tickets", "beto", json={"service": "VIC"}).json()
    phone.goto(f"{live_box.url}/t/{ticket['public_id']}")
    assert phone.text_content("#status") == "En espera"
    live_box.call("POST", f"/tickets/{ticket['id']}/cancel", "beto", json={"reason": "prueba"})
    phone.clock.fast_forward(11_000)
    expect(phone.locator("#status")).to_have_text("Anulado")


def _serve(live_box, ticket, counter="c1"):
    live_box.release(counter)
    assert live_box.call("POST", f"/tickets/{ticket['id']}/call", "beto", json={"counter": counter}).ok
    assert live_box.call("POST", f"/tickets/{ticket['id']}/start", "beto").ok


def test_the_survey_appears_when_the_visit_ends_and_is_answered_once(phone, live_box):
    ticket = live_box.call("POST", "/tickets", "beto", json={"service": "ORI"}).json()
    phone.goto(f"{live_box.url}/t/{ticket['public_id']}")
    phone.wait_for_function("window.io && document.getElementById('offline').hidden")
    assert phone.is_hidden("#survey"), "nothing to rate while waiting"
    _serve(live_box, ticket)
    expect(phone.locator("#status")).to_have_text("En atención")
    assert phone.is_hidden("#survey")
    live_box.call("POST", f"/tickets/{ticket['id']}/finish", "beto", json={"outcome": "resolved"})
    live_box.call("POST", "/counters/c1/close", "beto")
    expect(phone.locator("#survey")).to_be_visible()
    expect(phone.locator("#survey legend")).to_have_text("¿Cómo fue su atención?")
    assert phone.locator(".face").count() == 5
    phone.click("#survey-send")
    expect(phone.locator("#survey-error")).to_have_text("Elija una de las cinco caras.")
    phone.click(".face-4")
    phone.fill("#survey-comment", "Me explicaron con paciencia.")
    screenshot(phone, "public-03-survey")
    phone.click("#survey-send")
    expect(phone.locator("#survey-thanks")).to_be_visible()
    assert phone.is_hidden("#survey")
    screenshot(phone, "public-04-thanks")
    events = live_box.call("GET", "/events?after=0&limit=1000", "sofia").json()["events"]
    rated = [event for event in events if event["type"] == "ticket.rated" and event["data"]["ticket"]["id"] == ticket["id"]]
    assert [(event["data"]["score"], event["data"]["comment"]) for event in rated] == [(4, "Me explicaron con paciencia.")]
    phone.reload()
    expect(phone.locator("#survey-thanks")).to_be_visible()
    assert phone.is_hidden("#survey"), "answered once: not offered again"


def test_the_complaints_book_shows_only_when_configured(app, api):
    ticket = api.post("/tickets", {"service": "ORI"}).get_json()
    page = app.test_client().get(f"/t/{ticket['public_id']}").get_data(as_text=True)
    assert 'id="complaints' not in page and "reclamos" not in page
    box = app.extensions["turnero"]
    box.settings.sede["complaints_url"] = "https://reclamos.servicios.gob.pe/?institution_id=99"
    page = app.test_client().get(f"/t/{ticket['public_id']}").get_data(as_text=True)
    assert 'href="https://reclamos.servicios.gob.pe/?institution_id=99"' in page
    assert "<svg" in page.split('id="complaints"')[1], "with its QR"
