"""The kiosk speaks its steps ("Escuchar"), shows the services' pictograms, and offers a language
once its kiosk and slip strings are reviewed: on a real box, with espeak-ng and Chromium."""
from __future__ import annotations

import io
import shlex
import struct
import sys
import wave
import zlib

import pytest
import requests

from conftest import SEDE_TOML, LiveBox, screenshot, wait_for, write_sede
from test_kiosk_browser import FITS, add_document, assert_large_targets, open_kiosk, screen
from turnero.store import Store
from turnero.translations import Translations
from kiosk.speech import required_keys

SIZES = [(1280, 800), (1080, 1920)]
MARK = "⟨prueba⟩ "  # throw-away test strings, never a real translation
HANG = [sys.executable, "-c", "import sys; sys.stdin.readline(); sys.stdin.read()"]
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="8" '
       'fill="#0b6b2e"/><circle cx="32" cy="32" r="18" fill="#fff"/></svg>')


def png(size=64, rgb=(11, 61, 145)) -> bytes:
    """A small solid PNG, made here (the repository ships no pictograms)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def speech_box(tmp_path_factory):
    """A box whose kiosk speaks each step, with a pictogram on two services and Aymara enabled
    (no Aymara text exists: the tests lay throw-away reviewed strings over it and discard them)."""
    root = tmp_path_factory.mktemp("speechbox")
    pictos = root / "pictogramas"
    pictos.mkdir()
    (pictos / "ori.png").write_bytes(png())
    (pictos / "pen.svg").write_text(SVG, encoding="utf-8")
    (root / "fuera.png").write_bytes(png())  # outside the folder: never served
    text = SEDE_TOML.replace('languages = ["es", "qu", "en"]', 'languages = ["es", "qu", "ay", "en"]')
    text = text.replace("appointments = true\n", 'appointments = true\npictogram = "ori.png"\n', 1)
    text = text.replace('names = { es = "Defensa penal" }\n', 'names = { es = "Defensa penal" }\npictogram = "pen.svg"\n', 1)
    text += f'\n[kiosk]\nspeak_steps = true\npictogram_dir = "{pictos}"\n'
    box = LiveBox(write_sede(root / "data", text)).prepare().start()
    yield box
    box.stop()


def kiosk_session(box) -> requests.Session:
    """A paired kiosk's cookie, as the browser holds it."""
    session = requests.Session()
    session.get(f"{box.url}/kiosk?device_token={box.tokens['kiosco-1']}", timeout=10).raise_for_status()
    return session


def spoken(box, step, lang="es", until=lambda response: response.status_code != 202):
    answers = []

    def asked():
        answers.append(box.call("GET", f"/kiosk/speech?step={step}&lang={lang}&wait=2", "kiosco-1"))
        return until(answers[-1])

    assert wait_for(asked, timeout=60), f"{step}/{lang}: {answers[-1].status_code} {answers[-1].text}"
    return answers[-1]


def translations(box):
    store = Store.in_data_dir(box.data_dir)
    return store, Translations(store)


def review_all(box, language, keys):
    store, studio = translations(box)
    try:
        report = studio.save_many(language, [(key, MARK + source) for key, source in keys.items()], "traductora")
        assert not report["refused"], report["refused"][:3]
        for key in keys:
            studio.review(language, key, "revisora")
    finally:
        store.close()


def discard_all(box, language, keys):
    store, studio = translations(box)
    try:
        for key in keys:
            studio.discard(language, key, "revisora")
    finally:
        store.close()


# ---------------------------------------------------------------------- the speech endpoint


def test_a_request_never_waits_for_synthesis_202_then_200(speech_box):
    first = speech_box.call("GET", "/kiosk/speech?step=appointment&lang=es&wait=0", "kiosco-1")
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "pending" and first.json()["url"] is None
    ready = spoken(speech_box, "appointment")
    assert ready.status_code == 200 and ready.json()["url"].startswith("/kiosk/speech/")


def test_a_spanish_step_is_real_espeak_speech(speech_box):
    body = spoken(speech_box, "confirm").json()
    assert (body["language"], body["voice"], body["source"], body["fallback"]) == ("es", "es-419", "espeak", False)
    audio = kiosk_session(speech_box).get(speech_box.url + body["url"], timeout=10)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF"
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnframes() / wav.getframerate() > 0


def test_only_catalog_steps_are_spoken_and_only_to_a_kiosk(speech_box):
    unknown = speech_box.call("GET", "/kiosk/speech?step=hola%20mundo", "kiosco-1")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_step"
    anonymous = requests.get(speech_box.url + "/api/v1/kiosk/speech?step=start", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    staff = speech_box.call("GET", "/kiosk/speech?step=start", "ana")
    assert staff.status_code == 403
    session = kiosk_session(speech_box)
    for name in ("..%2f..%2fturnero.db", "0" * 32, "chime"):
        assert session.get(f"{speech_box.url}/kiosk/speech/{name}.wav", timeout=10).status_code == 404


def test_quechua_without_a_reviewed_text_is_said_in_spanish_not_by_the_quechua_voice(speech_box):
    body = spoken(speech_box, "start", "qu").json()
    assert (body["requested_language"], body["language"], body["voice"]) == ("qu", "es", "es-419")
    assert body["fallback"] is True and body["note"] == "Audio en castellano"


def test_a_reviewed_quechua_text_is_said_by_the_quechua_voice(speech_box):
    key = "kiosk.speech.ticket"
    store, studio = translations(speech_box)
    try:
        studio.save("qu", key, MARK + "turnoyki listo", "traductora")
        borrador = spoken(speech_box, "ticket", "qu").json()
        assert borrador["voice"] == "es-419", "a draft is never said"
        studio.review("qu", key, "revisora")
        # The box re-reads reviewed strings at most once a second.
        body = spoken(speech_box, "ticket", "qu", until=lambda r: r.status_code == 200 and r.json()["language"] == "qu").json()
        assert (body["voice"], body["source"], body["fallback"], body["note"]) == ("qu", "espeak", False, None)
    finally:
        studio.discard("qu", key, "revisora")
        store.close()


def test_a_hung_synthesis_times_out_without_holding_the_request(tmp_path, clock):
    from turnero import create_app

    app = create_app({"DATA_DIR": str(write_sede(tmp_path / "data")), "NOW": clock, "START_WORKERS": False,
                      "TESTING": True, "ENV": {"TURNERO_VOICE_WORKER_COMMAND": shlex.join(HANG),
                                               "TURNERO_VOICE_TIMEOUT_SECONDS": "1"}})
    try:
        token = app.extensions["turnero"].accounts.add_device("kiosco-1", "kiosk")
        client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
        first = client.get("/api/v1/kiosk/speech?step=start&wait=0", headers=auth)
        assert first.status_code == 202
        answers = []
        assert wait_for(lambda: answers.append(client.get("/api/v1/kiosk/speech?step=start&wait=3", headers=auth))
                        or answers[-1].status_code != 202, timeout=60)
        answer = answers[-1]
        assert answer.status_code == 503 and answer.json["error"]["code"] == "speech_unavailable"
        assert "killed" in answer.json["error"]["detail"]
        again = client.get("/api/v1/kiosk/speech?step=start&wait=3", headers=auth)
        assert again.status_code == 503, "a failing text is not retried at once (each try holds the worker)"
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


# ---------------------------------------------------------------------- pictograms


def test_pictograms_are_served_only_from_their_folder(speech_box):
    session = kiosk_session(speech_box)
    picture = session.get(speech_box.url + "/kiosk/pictogram/ori.png", timeout=10)
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/png"
    assert picture.content == png() and "max-age" in picture.headers["Cache-Control"]
    svg = session.get(speech_box.url + "/kiosk/pictogram/pen.svg", timeout=10)
    assert svg.status_code == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    assert "sandbox" in svg.headers["Content-Security-Policy"]
    for name in ("fuera.png", "..%2ffuera.png", "%2e%2e%2ffuera.png", "..%5cfuera.png", "ori.gif", "ori.PNG%00"):
        assert session.get(f"{speech_box.url}/kiosk/pictogram/{name}", timeout=10).status_code == 404, name
    assert requests.get(speech_box.url + "/kiosk/pictogram/ori.png", timeout=10).status_code == 401


# ---------------------------------------------------------------------- in Chromium

HEARD = "window.heard = []; document.addEventListener('playing', e => heard.push(e.target.currentSrc), true);"


def heard_more(page, before):
    page.wait_for_function("n => window.heard.length > n", arg=before, timeout=60000)
    return page.evaluate("window.heard.length")


def listen(page):
    """Escuchar is shown large, and a tap plays the step."""
    button = page.locator("#listen")
    assert button.is_visible()
    box = button.bounding_box()
    assert min(box["width"], box["height"]) >= 48, box
    before = int(button.get_attribute("data-said") or 0)
    button.click()
    page.wait_for_function("n => Number(document.getElementById('listen').dataset.said || 0) > n", arg=before,
                           timeout=60000)
    assert "/kiosk/speech/" in page.evaluate("window.heard[window.heard.length - 1]")


@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_escuchar_on_every_step_and_pictograms_on_the_buttons(browser, speech_box, width, height):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima", viewport={"width": width, "height": height})
    page = context.new_page()
    page.add_init_script(HEARD)
    try:
        open_kiosk(page, speech_box)
        page.wait_for_function("document.querySelector('[data-pictogram=\"ORI\"]').naturalWidth > 0")
        page.wait_for_function("document.querySelector('[data-pictogram=\"PEN\"]').naturalWidth > 0")
        assert page.locator('[data-service="CON"] .icon svg').count() == 1, "no pictogram: the icon stays"
        size = page.locator('[data-pictogram="ORI"]').bounding_box()
        assert size["width"] >= 96 and size["height"] >= 96, size
        screenshot(page, f"kiosk-speech-{width}x{height}-1-start")
        assert page.evaluate(FITS) == []
        assert_large_targets(page)
        listen(page)

        heard = page.evaluate("window.heard.length")
        page.click('[data-service="ORI"]')
        screen(page, "confirm")
        heard = heard_more(page, heard)  # [kiosk] speak_steps: said once when a touch brings it up
        page.wait_for_function("document.querySelector('#confirm-icon img').naturalWidth > 0")
        screenshot(page, f"kiosk-speech-{width}x{height}-2-confirm")
        assert page.evaluate(FITS) == []
        listen(page)

        add_document(page)
        listen(page)
        assert page.evaluate(FITS) == []
        page.click("#home")
        page.click("#to-appointment")
        screen(page, "appointment")
        listen(page)
        page.click("#home")
        page.click('[data-service="PEN"]')
        screen(page, "confirm")
        page.click("#take-ticket")
        screen(page, "ticket")
        listen(page)
        screenshot(page, f"kiosk-speech-{width}x{height}-3-ticket")
        assert page.evaluate(FITS) == []
    finally:
        context.close()


# ---------------------------------------------------------------------- a language once reviewed


def offered(session, box) -> list:
    return [language["code"] for language in session.get(box.url + "/kiosk/config", timeout=10).json()["languages"]]


def test_a_language_is_offered_once_all_its_kiosk_and_slip_strings_are_reviewed(speech_box, browser):
    keys = {key: source for key, source in _sources("ay").items()}
    assert any(key.startswith("printer.") for key in keys) and "kiosk.listen" in keys
    last = "kiosk.speech.ticket"
    session = kiosk_session(speech_box)
    assert offered(session, speech_box) == ["es", "en"], "English ships complete; nothing else is reviewed"
    try:
        review_all(speech_box, "ay", {key: text for key, text in keys.items() if key != last})
        # The box re-reads reviewed strings at most once a second.
        assert wait_for(lambda: session.get(speech_box.url + "/kiosk/config", timeout=10)
                        .json()["messages"]["ay"]["kiosk.title"].startswith(MARK))
        assert "ay" not in offered(session, speech_box), "one string missing: not offered"
        review_all(speech_box, "ay", {last: keys[last]})
        assert wait_for(lambda: "ay" in offered(session, speech_box))
        assert offered(session, speech_box) == ["es", "ay", "en"]
        context = browser.new_context(locale="es-PE", viewport={"width": 1280, "height": 800})
        page = context.new_page()
        try:
            open_kiosk(page, speech_box)
            page.click('[data-lang="ay"]')
            assert page.text_content("#h-start").startswith(MARK)
            assert page.get_attribute("html", "lang") == "ay"
        finally:
            context.close()
    finally:
        discard_all(speech_box, "ay", keys)
    assert wait_for(lambda: "ay" not in offered(session, speech_box))
    assert offered(session, speech_box) == ["es", "en"]


def _sources(language) -> dict:
    from turnero.translations import translatable_keys

    sources = translatable_keys(language)
    return {key: sources[key] for key in required_keys(language)}
