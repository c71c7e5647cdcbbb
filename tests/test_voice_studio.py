"""The voice studio (issue #13): words recorded in the sede are converted by sox into the pack
format, reviewed by a second person, and only then say their language in the calls; espeak-ng's
Quechua speaks only a reviewed Quechua sentence. The "recordings" here are Spanish words made by
espeak-ng for a throw-away Aymara pack in a temporary folder: no Aymara is written anywhere."""
from __future__ import annotations

import re
import shutil
import subprocess
import wave
from array import array
from pathlib import Path

import pytest

from tests.conftest import (ARTIFACTS, CHROMIUM, PASSWORD, USERS, LiveBox, add_users_fast, error_code,
                            screenshot, write_sede)
from turnero import create_app, i18n, voice_packs
from turnero.translations import Translations
from turnero.voice_packs import MAX_UPLOAD_BYTES, RATE, VoiceStudio, pack_version, required_keys

LANG = "ay"
ESPEAK = shutil.which("espeak-ng")
SOX = shutil.which("sox")
pytestmark = pytest.mark.skipif(not (ESPEAK and SOX), reason="espeak-ng and sox are installed by bootstrap")
WORDS = {"word": "turno", "letter": "letra", "digit": "número", "counter": "ventanilla"}


def _recording(folder: Path, key: str, kind: str = "wav") -> bytes:
    """A quiet "recording" of the key (Spanish words from espeak-ng) after half a second of silence,
    at another rate than the pack's: what a microphone hands over, give or take."""
    folder.mkdir(parents=True, exist_ok=True)
    kind_name, _, name = key.partition(":")
    raw, out = folder / "raw.wav", folder / f"rec.{kind}"
    subprocess.run([ESPEAK, "-v", "es-419", "-w", str(raw), f"{WORDS[kind_name]} {name}"], check=True,
                   capture_output=True, timeout=20)
    subprocess.run([SOX, str(raw), "-r", "44100", str(out), "pad", "0.5", "0.3", "vol", "0.2"], check=True,
                   capture_output=True, timeout=20)
    return out.read_bytes()


@pytest.fixture
def box(tmp_path, clock):
    data_dir = write_sede(tmp_path / "data")
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "START_WORKERS": False, "TESTING": True,
                      "ENV": {"TURNERO_VOICE_PACK_DIR": str(tmp_path / "packs"),
                              "TURNERO_VOICE_LANGUAGES": f"es,{LANG},qu"}})
    store = app.extensions["turnero"].store
    tokens = add_users_fast(store, {**USERS, "tina": "traductor", "rosa": "traductor"})
    app.tokens = tokens
    app.packs = tmp_path / "packs"
    app.scratch = tmp_path / "rec"
    yield app
    app.extensions["turnero"].stop()
    store.close()


def _client(app, name):
    client = app.test_client()
    with client.session_transaction() as session:
        session["token"] = app.tokens[name]
    page = client.get(f"/admin/voz/{LANG}")
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    client.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client


def _upload(client, key, data, csrf=True):
    headers = {"Content-Type": "audio/wav", "Accept": "application/json"}
    if csrf:
        headers["X-CSRFToken"] = client.csrf
    return client.post(f"/admin/voz/{LANG}/grabar?clave={key}", data=data, headers=headers)


def _review(client, **body):
    return client.post(f"/admin/voz/{LANG}/revisar", json=body, headers={"X-CSRFToken": client.csrf})


def _clip_of(app, key) -> Path:
    studio = VoiceStudio(app.extensions["turnero"].store, app.extensions["turnero"].settings)
    return studio.clip_path(LANG, key)


def _pack_languages(app, code="A-007", counter="v1"):
    """The languages a call would be said in, and the clip keys of the pack's part."""
    announcer = app.extensions["turnero.voice"]
    announcer.backend.refresh()
    settings = app.extensions["turnero"].settings
    first = settings.counters[counter]
    brief = {"id": first.id, "name": first.name, "spoken_name": first.spoken_name}
    parts = announcer.backend.parts(code, brief, announcer.languages)
    clips = next((part["clips"] for part in parts if part["language"] == LANG), None)
    return [part["language"] for part in parts], clips


def test_uploads_are_converted_to_the_pack_format_and_refusals_are_clear(box):
    tina = _client(box, "tina")
    answer = _upload(tina, "word:turno", _recording(box.scratch, "word:turno"))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["item"]["state"] == "borrador" and answer.json["item"]["author"] == "tina"
    assert answer.json["counts"]["borrador"] == 1 and answer.json["in_use"] is False
    path = _clip_of(box, "word:turno")
    with wave.open(str(path), "rb") as wav:
        assert (wav.getsampwidth(), wav.getnchannels(), wav.getframerate()) == (2, 1, RATE)
        samples = array("h", wav.readframes(wav.getnframes()))
    peak = max(abs(sample) for sample in samples)
    assert 0.6 * 32767 <= peak <= 0.75 * 32767  # normalised to -3 dBFS from a quiet recording
    loud = next(index for index, sample in enumerate(samples) if abs(sample) > 0.01 * 32767)
    assert loud < RATE * 0.05  # the half second of silence before the word is gone
    assert len(samples) < RATE * 1.5
    stat = subprocess.run([SOX, str(path), "-n", "stat"], capture_output=True, text=True, timeout=20).stderr
    assert float(re.search(r"Maximum amplitude:\s+([\d.]+)", stat).group(1)) > 0.6

    ogg = _upload(tina, "digit:1", _recording(box.scratch, "digit:1", "ogg"))  # sox reads OGG Vorbis here
    assert ogg.status_code == 200 and _clip_of(box, "digit:1").read_bytes()[:4] == b"RIFF"
    again = _upload(tina, "word:turno", _recording(box.scratch, "word:turno"))  # re-recorded: a new file
    assert again.status_code == 200 and _clip_of(box, "word:turno") != path and not path.exists()

    webm = _upload(tina, "digit:2", b"\x1a\x45\xdf\xa3" + bytes(2000))
    assert webm.status_code == 422 and error_code(webm) == "unsupported_format"
    assert error_code(_upload(tina, "digit:2", b"hola, esto no es audio" * 10)) == "not_audio"
    assert error_code(_upload(tina, "digit:2", b"RIFF\x00\x00\x00\x00WAVEfmt garbage")) == "not_audio"
    too_large = _upload(tina, "digit:2", b"RIFF" + bytes(MAX_UPLOAD_BYTES))
    assert too_large.status_code == 413 and error_code(too_large) == "upload_too_large"
    unknown = _upload(tina, "word:../../etc", _recording(box.scratch, "word:turno"))
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_key"
    no_csrf = _upload(tina, "digit:2", _recording(box.scratch, "digit:2"), csrf=False)
    assert no_csrf.status_code == 400 and error_code(no_csrf) == "csrf_failed"
    assert _clip_of(box, "digit:2") is None

    staff = box.test_client()
    with staff.session_transaction() as session:
        session["token"] = box.tokens["ana"]
    assert staff.get(f"/admin/voz/{LANG}").status_code == 403
    refused = staff.post(f"/admin/voz/{LANG}/grabar?clave=digit:2", data=b"RIFF",
                         headers={"X-CSRFToken": tina.csrf, "Content-Type": "audio/wav"})
    assert refused.status_code in (400, 403)
    assert _client(box, "root").get("/admin/voz").status_code == 200  # an admin may record too
    audited = [(row["actor"], row["action"]) for row in box.extensions["turnero"].store.read(
        "SELECT actor, action FROM audit_log WHERE details LIKE '%voice_pack%' ORDER BY id")]
    assert audited == [("tina", f"POST /admin/voz/{LANG}/grabar")] * 3  # refusals change nothing


def test_a_review_approves_only_the_recording_the_reviewer_heard(box):
    tina, rosa = _client(box, "tina"), _client(box, "rosa")
    first = _upload(tina, "word:turno", _recording(box.scratch, "word:turno")).json["item"]["clip"]
    letter = _upload(tina, "letter:a", _recording(box.scratch, "letter:a")).json["item"]["clip"]
    # tina records "turno" again while rosa listens to the first one
    again = _upload(tina, "word:turno", _recording(box.scratch, "word:turno", kind="ogg")).json["item"]["clip"]
    assert again != first
    refused = _review(rosa, key="word:turno", clip=first)
    assert refused.status_code == 409 and error_code(refused) == "clip_changed"
    assert error_code(_review(rosa, all=True, heard={"word:turno": first, "letter:a": letter})) == "clip_changed"
    states = {item["key"]: item["state"] for item in
              VoiceStudio(box.extensions["turnero"].store, box.extensions["turnero"].settings).items(LANG)["items"]}
    assert states["word:turno"] == states["letter:a"] == "borrador"  # a refusal marks nothing
    # "all" marks only what the page showed: "turno" was not heard since it changed
    assert [item["key"] for item in _review(rosa, all=True, heard={"letter:a": letter}).json["items"]] == ["letter:a"]
    assert error_code(_review(rosa, all=True)) == "invalid_body"  # a review names what was heard
    assert error_code(_review(rosa, key="word:turno")) == "invalid_body"
    assert _review(rosa, key="word:turno", clip=again).status_code == 200


def test_a_reviewed_complete_pack_says_its_language_and_nothing_less(box):
    tina, rosa = _client(box, "tina"), _client(box, "rosa")
    settings = box.extensions["turnero"].settings
    keys = required_keys(settings)
    assert _pack_languages(box)[0] == ["es"]  # no pack: Aymara and Quechua are unspoken
    assert box.extensions["turnero.voice"].unspoken_languages == [LANG, "qu"]

    heard = {}  # what the reviewer's page shows: the clip each review says it listened to

    def record(client, key):
        answer = _upload(client, key, _recording(box.scratch, key))
        assert answer.status_code == 200, key
        heard[key] = answer.json["item"]["clip"]

    record(tina, "word:turno")
    assert error_code(_review(tina, key="word:turno", clip=heard["word:turno"])) == "own_recording"
    assert _review(rosa, key="word:turno", clip=heard["word:turno"]).json["items"][0]["state"] == "revisado"
    # Reviewed but incomplete (no Spanish pack to lend digits): not used.
    assert _pack_languages(box)[0] == ["es"]
    assert "incomplete" in VoiceStudio(box.extensions["turnero"].store, settings).items(LANG)["withheld"]

    for key in keys[1:]:
        record(tina, key)
    assert _pack_languages(box)[0] == ["es"]  # complete but in borrador: not used
    page = rosa.get(f"/admin/voz/{LANG}").get_data(as_text=True)
    assert "Grabada por tina" in page and "borrador" in page
    reviewed = _review(rosa, all=True, heard=heard)
    assert reviewed.status_code == 200 and reviewed.json["in_use"] is True
    assert reviewed.json["counts"] == {"revisado": len(keys), "borrador": 0, "missing": 0}
    assert error_code(_review(rosa, all=True, heard=heard)) == "nothing_to_review"
    languages, clips = _pack_languages(box)
    assert languages == ["es", LANG]
    assert clips == ["word:turno", "letter:a", "digit:0", "digit:0", "digit:7", "counter:v1"]
    assert box.extensions["turnero.voice"].unspoken_languages == ["qu"]

    # A real call: the announcement says Spanish (espeak-ng) then the recorded pack.
    from tests.conftest import Api

    api = Api(box.test_client(), box.tokens["ana"])
    assert api.post("/tickets", {"service": "ORI"}).status_code == 201
    assert api.post("/counters/v1/call-next").status_code == 200
    seq = [event for event in api.get("/events?after=0&limit=100").json["events"]
           if event["type"] == "ticket.called"][-1]["seq"]
    body = api.get(f"/announcements/{seq}").json
    assert body["status"] == "ready" and [part["language"] for part in body["parts"]] == ["es", LANG]
    assert body["parts"][1]["duration"] > 1.0

    # A re-recording is a borrador again: the whole pack waits for its review.
    record(rosa, "digit:7")
    assert _pack_languages(box)[0] == ["es"]
    assert _review(tina, key="digit:7", clip=heard["digit:7"]).json["in_use"] is True
    discarded = rosa.post(f"/admin/voz/{LANG}/descartar", json={"key": "digit:0"},
                          headers={"X-CSRFToken": rosa.csrf})
    assert discarded.status_code == 200 and discarded.json["item"]["state"] == "missing"
    assert _pack_languages(box)[0] == ["es"]  # incomplete again


def test_another_process_sees_a_review_through_the_version(box):
    """The device process has its own Packs: it re-reads them when the version in kv changes."""
    from display.voice_backend_pack import PackBackend

    store = box.extensions["turnero"].store
    settings = box.extensions["turnero"].settings
    studio = VoiceStudio(store, settings)
    device = PackBackend(settings.voice, box.scratch, settings, lambda: pack_version(store))
    assert not device.packs.recorded(LANG)
    before = pack_version(store)
    for key in required_keys(settings):
        studio.record(LANG, key, _recording(box.scratch, key), "tina")
    studio.review(LANG, None, "rosa")
    assert pack_version(store) == before + len(required_keys(settings)) + 1
    device.refresh()  # the device process checks at most once a second; here, now
    assert device.packs.recorded(LANG)


@pytest.mark.parametrize("fault, code", [(subprocess.TimeoutExpired("sox", 8), "conversion_timeout"),
                                         (FileNotFoundError("sox"), "conversion_failed")])
def test_sox_hanging_or_missing_is_a_503_and_leaves_nothing_behind(box, monkeypatch, fault, code):
    recording = _recording(box.scratch, "word:turno")

    def broken(*args, **kwargs):
        raise fault

    monkeypatch.setattr(voice_packs.subprocess, "run", broken)
    tina = _client(box, "tina")
    answer = _upload(tina, "word:turno", recording)
    assert answer.status_code == 503 and error_code(answer) == code
    assert _clip_of(box, "word:turno") is None
    assert not any((box.packs / LANG / ".scratch").iterdir())  # the upload's work folder is gone
    assert pack_version(box.extensions["turnero"].store) == 0  # nothing changed, nothing to reload


def test_discarding_a_key_without_a_recording_answers_without_an_item(box):
    tina = _client(box, "tina")
    answer = tina.post(f"/admin/voz/{LANG}/descartar", json={"key": "word:nada"},
                       headers={"X-CSRFToken": tina.csrf})
    assert answer.status_code == 200 and answer.json["item"] is None
    assert answer.json["counts"]["missing"] == answer.json["total"]


def test_espeak_says_quechua_only_from_a_reviewed_quechua_sentence(box):
    """Throw-away "PRUEBA" strings stand for a Quechua sentence; they live in the test's database only."""
    store = box.extensions["turnero"].store
    translations = Translations(store)
    texts = {"voice.phrase": "PRUEBA {code}, {counter}.", "voice.letter.a": "PRUEBA-a",
             "voice.digit.0": "PRUEBA-0", "voice.digit.7": "PRUEBA-7"}
    for key, text in texts.items():
        translations.save("qu", key, text, "tina")
    assert "voice.phrase" not in i18n.catalog("qu")  # a borrador is never in the catalog
    assert "qu" not in _pack_languages(box)[0]
    assert "qu" in box.extensions["turnero.voice"].unspoken_languages
    try:
        for key in texts:
            translations.review("qu", key, "rosa")
        announcer = box.extensions["turnero.voice"]
        counter = {"id": "v1", "name": "Ventanilla 1", "spoken_name": ""}
        [quechua] = [part for part in announcer.backend.parts("A-007", counter, announcer.languages)
                     if part["language"] == "qu"]
        assert quechua["voice"] == "qu"
        assert quechua["text"] == "PRUEBA PRUEBA-a PRUEBA-0 PRUEBA-0 PRUEBA-7, Ventanilla 1."
        assert "qu" not in announcer.unspoken_languages
        translations.save("qu", "voice.phrase", "PRUEBA otra {code}, {counter}.", "tina")  # back to borrador
        assert "qu" not in _pack_languages(box)[0]
    finally:
        for key in texts:
            translations.discard("qu", key, "tina")
    assert "voice.phrase" not in i18n.catalog("qu")


# ----------------------------------------------------------------------------------- browser

@pytest.fixture(scope="module")
def studio_box(tmp_path_factory):
    root = tmp_path_factory.mktemp("voice-studio")
    data_dir = write_sede(root / "data")
    box = LiveBox(data_dir, env={"TURNERO_VOICE_PACK_DIR": str(root / "packs")})
    box.prepare(users={**USERS, "tina": "traductor"}, devices=()).start()
    yield box
    box.stop()


def test_recording_in_chromium_with_a_fake_microphone(studio_box, browser):
    # A Chromium of its own (a fake microphone needs launch flags), from the session's Playwright:
    # a second sync_playwright() cannot run beside the one the session's browser holds.
    recorder = browser.browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
              "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"])
    try:
        errors = []

        def signed_in(username):
            context = recorder.new_context(viewport={"width": 1366, "height": 768}, locale="es-PE", bypass_csp=True)
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{studio_box.url}/login?next=/admin/voz/{LANG}")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/admin/voz/{LANG}")
            return page

        page = signed_in("tina")
        row = page.locator('.clip[data-key="word:turno"]')
        assert row.get_attribute("data-state") == "missing"
        row.locator('[data-action="grabar"]').click()
        page.wait_for_selector('.clip[data-key="word:turno"][data-recording="1"]')
        page.wait_for_timeout(1200)
        row.locator('[data-action="grabar"]').click()
        page.wait_for_selector('.clip[data-key="word:turno"][data-state="borrador"]', timeout=15000)
        row.locator('[data-action="escuchar"]').click()
        page.wait_for_function(
            "() => { const a = document.querySelector('.clip[data-key=\"word:turno\"] audio');"
            " return a && a.currentTime > 0 && a.duration > 0.2; }", timeout=10000)
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot(page, "voice-studio-1366x768")
        page.screenshot(path=str(ARTIFACTS / "voice-studio-viewport.png"))
        assert errors == []
        assert page.locator("#pack-status").get_attribute("data-in-use") == "0"

        # Another person reviews it from the page, which says which recording was heard.
        other = signed_in("root")
        other.locator('.clip[data-key="word:turno"] [data-action="revisar"]').click()
        other.wait_for_selector('.clip[data-key="word:turno"][data-state="revisado"]', timeout=10000)
        assert errors == []
    finally:
        recorder.close()
