"""The voice: real pyttsx3 + espeak-ng in the worker process, the WAV cache, a hung worker,
recorded packs with Spanish fallback, the announcement endpoint and the box speaker."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import load_settings
from display import audio
from display.speaker import BoxSpeaker
from display.phrases import phrase_text, spoken_code
from display.voice import Announcer
from display.voice_backend import cache_key, open_backend
from display.voice_backend_espeak import EspeakBackend
from display.voice_backend_pack import PackBackend
from display.voice_pack import Packs, check, code_keys, generate_spanish_pack
from display.voice_synth import SynthesisError, SynthTimeout, SynthWorker
from conftest import wait_for, write_sede

# A worker that takes a request and never answers (it leaves when the box closes its stdin).
HANG = [sys.executable, "-c", "import sys; sys.stdin.readline(); sys.stdin.read()"]


def assert_valid_speech(path: Path, min_seconds=0.3, max_seconds=10.0):
    """A real WAV: readable, espeak-ng's rate, a plausible length, and not silent."""
    with open(path, "rb") as fh:
        assert fh.read(4) == b"RIFF"
    info = audio.info(path)
    assert info["rate"] == 22050
    assert min_seconds <= info["duration"] <= max_seconds, info
    assert info["rms"] > 300, info  # silence is ~0; speech from espeak-ng is in the thousands
    if shutil.which("soxi"):
        assert subprocess.run(["soxi", "-D", str(path)], capture_output=True, check=True).stdout.strip()


# ----------------------------------------------------------------- phrases


def test_phrase_spells_the_code_and_says_the_counter():
    counter = {"id": "v3", "name": "Ventanilla 3", "spoken_name": "ventanilla tres"}
    assert spoken_code("A-007", "es") == "a cero cero siete"
    assert phrase_text("es", "A-007", counter) == "Turno a cero cero siete, ventanilla tres."
    assert phrase_text("es", "V-1000", {"name": "Consultorio 1"}) == "Turno ve uno cero cero cero, Consultorio 1."


def test_no_phrase_is_invented_for_a_language_without_its_own_words():
    assert phrase_text("qu", "A-007", {"name": "Ventanilla 1"}) is None
    assert phrase_text("shp", "A-007", {"name": "Ventanilla 1"}) is None


# ----------------------------------------------------------------- backends


def test_the_voice_engine_setting_picks_one_backend(tmp_path):
    data_dir = write_sede(tmp_path / "data")
    espeak = open_backend(load_settings(data_dir, {}).voice, tmp_path / "scratch")
    try:
        assert isinstance(espeak, EspeakBackend) and espeak.name == "espeak"
        assert espeak.unspoken(["es", "qu"]) == ["qu"]  # no Quechua sentence in the catalog
    finally:
        espeak.close()
    pack = open_backend(load_settings(data_dir, {"TURNERO_VOICE_ENGINE": "pack"}).voice, tmp_path)
    assert isinstance(pack, PackBackend) and pack.name == "pack" and pack.worker_kills == 0
    assert open_backend(load_settings(data_dir, {"TURNERO_VOICE_ENGINE": "none"}).voice, tmp_path) is None
    assert open_backend(load_settings(data_dir, {"TURNERO_VOICE_ENABLED": "false"}).voice, tmp_path) is None


def test_espeak_cache_keys_are_unchanged(tmp_path):
    """Phrases already on disk keep their names: the key is the same hash as before the backends."""
    voice = load_settings(write_sede(tmp_path / "data"), {}).voice
    espeak = open_backend(voice, tmp_path)
    try:
        [part] = espeak.parts("A-007", {"id": "v3", "name": "Ventanilla 3", "spoken_name": "ventanilla tres"}, ["es"])
    finally:
        espeak.close()
    text = "Turno a cero cero siete, ventanilla tres."
    assert part["text"] == text and part["key"] == cache_key("espeak", "es-419", 150, text)
    import hashlib
    assert part["key"] == hashlib.sha256(f"espeak|es-419|150|{text}".encode()).hexdigest()[:32]


def test_voice_pack_tools_load_without_the_announcer():
    code = "import sys, display.voice_pack; sys.exit('display.voice' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=60).returncode == 0


# ----------------------------------------------------------------- the worker process


@pytest.fixture
def synth():
    worker = SynthWorker(timeout=10)
    yield worker
    worker.close()


def test_worker_writes_valid_speech_and_survives_pyttsx3_output(synth, tmp_path):
    first, second = tmp_path / "one.wav", tmp_path / "two.wav"
    synth.synthesize("Turno a cero cero siete, ventanilla tres.", "es-419", 150, first)
    synth.synthesize("Turno be cero uno dos, consultorio uno.", "es-419", 150, second)
    assert_valid_speech(first)
    assert_valid_speech(second)
    assert first.read_bytes() != second.read_bytes()  # each request wrote its own file
    assert synth.kills == 0


def test_worker_reports_errors_without_dying(synth, tmp_path):
    with pytest.raises(SynthesisError, match="empty text"):
        synth.synthesize("   ", "es-419", 150, tmp_path / "empty.wav")
    pid = synth.process.pid
    synth.synthesize("uno", "es-419", 150, tmp_path / "ok.wav")
    assert synth.process.pid == pid
    assert_valid_speech(tmp_path / "ok.wav", min_seconds=0.1)


def test_hung_worker_is_killed_on_timeout_and_replaced(tmp_path):
    hung = SynthWorker(timeout=1, command=HANG)
    try:
        with pytest.raises(SynthTimeout):
            hung.synthesize("Turno a cero cero uno", "es-419", 150, tmp_path / "never.wav")
        assert hung.kills == 1
        assert hung.process is None
        assert not (tmp_path / "never.wav").exists()
        # The next request starts a fresh worker: here, a real one.
        hung.command = SynthWorker(timeout=10).command
        hung.timeout = 10
        hung.synthesize("Turno a cero cero uno", "es-419", 150, tmp_path / "later.wav")
        assert_valid_speech(tmp_path / "later.wav")
    finally:
        hung.close()


def test_stray_output_of_a_worker_is_not_taken_for_an_answer(tmp_path):
    chatty = ("import json, sys\n"
              "for line in sys.stdin:\n"
              "    request = json.loads(line)\n"
              "    print('Audio saved to somewhere', flush=True)\n"
              "    print(json.dumps({'id': request['id'] - 1, 'ok': True}), flush=True)\n"
              "    print(json.dumps({'id': request['id'], 'ok': False, 'error': 'no voice'}), flush=True)\n")
    worker = SynthWorker(timeout=5, command=[sys.executable, "-c", chatty])
    try:
        with pytest.raises(SynthesisError, match="no voice"):
            worker.synthesize("uno", "es-419", 150, tmp_path / "x.wav")
    finally:
        worker.close()


def test_worker_that_dies_is_an_error_not_a_hang(tmp_path):
    dead = SynthWorker(timeout=5, command=[sys.executable, "-c", "print('not json')"])
    try:
        with pytest.raises(SynthesisError, match="exited|is gone"):
            dead.synthesize("uno", "es-419", 150, tmp_path / "x.wav")
        assert dead.kills == 0
    finally:
        dead.close()


# ----------------------------------------------------------------- announcements through the app


def _call(api, counter="v1", service="ORI"):
    assert api.post("/tickets", {"service": service}).status_code == 201
    response = api.post(f"/counters/{counter}/call-next")
    assert response.status_code == 200
    return response.json["ticket"]


def _seq_of_last(api, kind="ticket.called"):
    events = api.get("/events?after=0&limit=1000").json["events"]
    return [event for event in events if event["type"] == kind][-1]["seq"]


def test_announcement_is_made_once_and_cached_for_a_recall(app, api, tokens):
    display = api.as_(tokens["display"])
    called = _call(api)
    seq = _seq_of_last(api)
    first = display.get(f"/announcements/{seq}?wait=10")
    assert first.status_code == 200
    body = first.json
    assert body["status"] == "ready" and body["code"] == called["code"] and body["recall"] is False
    assert body["parts"][0]["text"] == f"Turno {spoken_code(called['code'], 'es')}, Ventanilla 1."
    wav = app.test_client().get(body["parts"][0]["url"], headers={"Authorization": f"Bearer {tokens['display']}"})
    assert wav.status_code == 200 and wav.mimetype == "audio/wav"
    voice = app.extensions["turnero.voice"]
    path = voice.cache_dir / body["parts"][0]["url"].rsplit("/", 1)[1]
    assert_valid_speech(path)
    made = path.stat().st_ino

    assert api.post("/counters/v1/recall").status_code == 200
    recall_seq = _seq_of_last(api, "ticket.recalled")
    again = display.get(f"/announcements/{recall_seq}?wait=10").json
    assert again["recall"] is True and again["parts"][0]["url"] == body["parts"][0]["url"]
    assert voice.stats == {"synthesized": 1, "cache_hits": 1, "failures": 0}
    assert path.stat().st_ino == made  # not rewritten (a new file would be a new inode)
    # Asking again for the same call answers from memory, not from a new synthesis.
    assert display.get(f"/announcements/{seq}").json == body
    assert voice.stats["cache_hits"] == 1
    health = api.client.get("/healthz").json["voice"]
    assert health["status"] == "ok" and health["synthesized"] == 1


def test_announcement_endpoint_refuses_what_is_not_a_visible_call(app, api, tokens):
    _call(api, "c1", "VIC")
    vic_seq = _seq_of_last(api)
    _call(api.as_(tokens["beto"]), "v1", "ORI")  # a user holds one counter at a time
    ori_seq = _seq_of_last(api)
    issued_seq = _seq_of_last(api, "ticket.issued")
    victims = api.as_(tokens["display_vic"])
    assert victims.get(f"/announcements/{vic_seq}?wait=10").json["code"].startswith("V-")
    assert victims.get(f"/announcements/{ori_seq}").status_code == 404  # not its services
    missing = api.as_(tokens["display"]).get(f"/announcements/{issued_seq}")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert api.as_(tokens["display"]).get("/announcements/999999").status_code == 404
    assert api.as_(tokens["display"]).get("/announcements/abc").status_code == 404
    assert api.as_(None).get(f"/announcements/{ori_seq}").status_code == 401
    assert api.as_(tokens["kiosk"]).get(f"/announcements/{ori_seq}").status_code == 403
    assert api.as_(tokens["display"]).get(f"/announcements/{ori_seq}?wait=soon").status_code == 400
    client = app.test_client()
    assert client.get("/display/voice/chime.wav").status_code == 401
    auth = {"Authorization": f"Bearer {tokens['display']}"}
    assert client.get("/display/voice/..%2fturnero.db.wav", headers=auth).status_code == 404
    assert client.get("/display/voice/" + "0" * 32 + ".wav", headers=auth).status_code == 404
    chime = client.get("/display/voice/chime.wav", headers=auth)
    assert chime.status_code == 200
    assert audio.info(app.extensions["turnero.voice"].chime_path)["rms"] > 300


@pytest.fixture
def hung_app(tmp_path, clock):
    from turnero import create_app

    data_dir = write_sede(tmp_path / "data")
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "START_WORKERS": False, "TESTING": True,
                      "ENV": {"TURNERO_VOICE_WORKER_COMMAND": shlex.join(HANG), "TURNERO_VOICE_TIMEOUT_SECONDS": "1"}})
    yield app
    app.extensions["turnero"].stop()
    app.extensions["turnero"].store.close()


def test_a_hung_synthesis_fails_the_voice_only(hung_app, caplog):
    from conftest import Api

    accounts = hung_app.extensions["turnero"].accounts
    accounts.add_user("ana", "staff", "clave-segura-123")
    api = Api(hung_app.test_client(), accounts.login("ana", "clave-segura-123")["token"])
    display = api.as_(accounts.add_device("pantalla-1", "display"))
    called = _call(api)
    seq = _seq_of_last(api)
    body = display.get(f"/announcements/{seq}?wait=5").json
    assert body["status"] == "failed" and body["parts"] == [] and "killed" in body["error"]
    assert body["code"] == called["code"]  # the display still has what it shows
    assert display.get("/board").json["calls"][0]["code"] == called["code"]
    health = api.client.get("/healthz").json
    assert health["status"] == "degraded"
    assert health["voice"]["status"] == "error" and health["voice"]["worker_kills"] == 1
    assert any(called["code"] in record.getMessage() for record in caplog.records)


def test_voice_disabled_answers_disabled(tmp_path, clock):
    from conftest import Api
    from turnero import create_app

    data_dir = write_sede(tmp_path / "data")
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "START_WORKERS": False, "TESTING": True,
                      "ENV": {"TURNERO_VOICE_ENGINE": "none"}})
    try:
        accounts = app.extensions["turnero"].accounts
        accounts.add_user("ana", "staff", "clave-segura-123")
        api = Api(app.test_client(), accounts.login("ana", "clave-segura-123")["token"])
        _call(api)
        assert api.get(f"/announcements/{_seq_of_last(api)}").json["status"] == "disabled"
        assert api.client.get("/healthz").json["voice"] == {"status": "disabled"}
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


# ----------------------------------------------------------------- background worker and precompute



def test_worker_precomputes_waiting_tickets_and_plays_live_calls_on_the_box(app, api, tmp_path):
    box = app.extensions["turnero"]
    played = tmp_path / "played.txt"
    recorder = [sys.executable, "-c", f"import sys; open({str(played)!r}, 'a').write(sys.argv[1] + '\\n')"]
    voice = Announcer(box.settings, tmp_path / "voice-data", box.engine, speaker=BoxSpeaker(recorder))
    box.store.on_commit(voice.on_commit)
    voice.start()
    try:
        ticket = api.post("/tickets", {"service": "ORI"}).json
        counters_for_ori = [c for c in box.settings.counters.values() if "ORI" in c.services]
        assert wait_for(lambda: voice.stats["synthesized"] == len(counters_for_ori), 15)
        called = api.post("/counters/v2/call-next").json["ticket"]
        assert called["code"] == ticket["code"]
        seq = _seq_of_last(api)
        body = voice.announcement(voice.call_event(seq), wait=10)
        assert body["status"] == "ready"
        assert voice.stats["synthesized"] == len(counters_for_ori)  # the call found its phrase made
        assert voice.stats["cache_hits"] >= 1
        assert wait_for(lambda: played.exists() and len(played.read_text().split()) == 2, 15)
        lines = played.read_text().split()
        assert lines[0].endswith("chime.wav") and lines[1].endswith(body["parts"][0]["url"].rsplit("/", 1)[1])
    finally:
        voice.stop()
    assert voice.backend.synth.process is None  # stopping the box stops its worker process


def test_a_call_queued_past_the_displays_wait_is_not_said_and_is_made_when_asked_again(
        app, api, tmp_path, monkeypatch):
    """A burst of calls faster than the synthesizer: a call still queued when no display waits for
    its phrase any more is dropped (the displays chimed it), not synthesized late ahead of newer ones."""
    import display.voice as voice_module

    box = app.extensions["turnero"]
    monkeypatch.setitem(box.settings.voice, "precompute", False)  # only the calls are synthesized
    voice = Announcer(box.settings, tmp_path / "voice-data", box.engine)
    box.store.on_commit(voice.on_commit)
    monkeypatch.setattr(voice_module, "display_wait_seconds", lambda _voice: 0.0)  # every call is too late
    voice.start()
    try:
        called = _call(api)
        assert api.post(f"/tickets/{called['id']}/no-show").status_code == 200
        _call(api)
        first, second = [event["seq"] for event in api.get("/events?after=0&limit=100").json["events"]
                         if event["type"] == "ticket.called"]
        assert wait_for(lambda: voice.too_late == 2, 15)
        assert voice.stats["synthesized"] == 0 and voice.stats["failures"] == 0
        # asked for meanwhile, it is queued again, and is still too late
        assert voice.announcement(voice.call_event(first), wait=0.5)["status"] == "pending"
        monkeypatch.undo()
        # Asked again (a display that reconnects and catches up): made now, as a call never heard.
        assert voice.announcement(voice.call_event(second), wait=15)["status"] == "ready"
        assert voice.stats["synthesized"] >= 1
    finally:
        voice.stop()


def test_cache_is_pruned_least_recently_used_first(app):
    import os

    voice = app.extensions["turnero.voice"]
    voice.cache_dir.mkdir(parents=True, exist_ok=True)
    voice.ensure_chime()
    for index in range(5):
        path = voice.cache_dir / f"{index:032x}.wav"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + index, 1000 + index))
    assert voice.prune_cache(limit=10_000, keep=3000) == 0
    assert voice.prune_cache(limit=4000, keep=3000) == 2
    left = sorted(path.name for path in voice.cache_dir.glob("*.wav"))
    assert left == [f"{index:032x}.wav" for index in (2, 3, 4)] + ["chime.wav"]


# ----------------------------------------------------------------- recorded packs


@pytest.fixture(scope="module")
def spanish_pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("packs")
    settings = load_settings(write_sede(root / "sede"), {})
    worker = SynthWorker(timeout=10)
    try:
        generate_spanish_pack(root / "packs" / "es", settings, worker)
    finally:
        worker.close()
    return root / "packs", settings


def test_generated_spanish_pack_has_every_clip_the_sede_needs(spanish_pack):
    packs_dir, settings = spanish_pack
    manifest = json.loads((packs_dir / "es" / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["language"] == "es"
    for key in ("word:turno", "digit:0", "digit:9", "letter:a", "letter:v", "counter:v1", "counter:c1"):
        assert_valid_speech(packs_dir / "es" / manifest["clips"][key], min_seconds=0.05, max_seconds=3)
    report = check(settings, packs_dir, ["es"])
    assert report["es"] == {"pack": True, "missing": [], "from_spanish": [], "unavailable": []}


def test_pack_phrase_is_joined_from_clips(spanish_pack, tmp_path):
    packs_dir, settings = spanish_pack
    assert code_keys("A-007") == ["letter:a", "digit:0", "digit:0", "digit:7"]
    clip, borrowed, missing = Packs(packs_dir).compose("es", "A-007", settings.counters["v1"])
    assert borrowed == [] and missing == []
    audio.write(tmp_path / "phrase.wav", clip)
    assert_valid_speech(tmp_path / "phrase.wav", min_seconds=1.0)


def test_a_language_pack_falls_back_to_spanish_clip_by_clip(spanish_pack, tmp_path):
    packs_dir, settings = spanish_pack
    root = tmp_path / "packs"
    shutil.copytree(packs_dir, root)
    # An Aymara pack with one clip. Its content is a test tone: no Aymara word is made up here.
    (root / "ay").mkdir()
    audio.write(root / "ay" / "tone.wav", audio.chime())
    (root / "ay" / "manifest.json").write_text(json.dumps(
        {"format": 1, "language": "ay", "clips": {"word:turno": "tone.wav"}}))
    report = check(settings, root, ["es", "ay", "shp"])
    assert report["es"]["missing"] == []
    assert "word:turno" not in report["ay"]["missing"]
    assert {"digit:0", "letter:a", "counter:v1"} <= set(report["ay"]["from_spanish"])
    assert report["ay"]["unavailable"] == []
    assert report["shp"]["pack"] is False  # no pack at all: listed as entirely missing
    assert "word:turno" in report["shp"]["missing"]

    clip, borrowed, missing = Packs(root).compose("ay", "A-007", settings.counters["v1"])
    assert "word:turno" not in borrowed and "digit:7" in borrowed and missing == []
    assert clip.duration > audio.chime().duration


def test_pack_engine_announces_from_clips(spanish_pack, tmp_path, clock):
    from conftest import Api
    from turnero import create_app

    packs_dir, _settings = spanish_pack
    data_dir = write_sede(tmp_path / "data")
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "START_WORKERS": False, "TESTING": True,
                      "ENV": {"TURNERO_VOICE_ENGINE": "pack", "TURNERO_VOICE_PACK_DIR": str(packs_dir)}})
    try:
        accounts = app.extensions["turnero"].accounts
        accounts.add_user("ana", "staff", "clave-segura-123")
        api = Api(app.test_client(), accounts.login("ana", "clave-segura-123")["token"])
        _call(api)
        body = api.get(f"/announcements/{_seq_of_last(api)}").json
        assert body["status"] == "ready" and [part["language"] for part in body["parts"]] == ["es"]
        path = app.extensions["turnero.voice"].cache_dir / body["parts"][0]["url"].rsplit("/", 1)[1]
        assert_valid_speech(path, min_seconds=1.0)
        health = api.client.get("/healthz").json["voice"]
        assert health["status"] == "ok" and health["unspoken_languages"] == ["qu"]  # no qu pack
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


def test_pack_engine_without_packs_is_reported(tmp_path, clock):
    from turnero import create_app

    data_dir = write_sede(tmp_path / "data")
    app = create_app({"DATA_DIR": str(data_dir), "NOW": clock, "START_WORKERS": False, "TESTING": True,
                      "ENV": {"TURNERO_VOICE_ENGINE": "pack", "TURNERO_VOICE_PACK_DIR": str(tmp_path / "none")}})
    try:
        health = app.test_client().get("/healthz").json
        assert health["voice"]["status"] == "error" and "paquetes" in health["voice"]["detail"]
        assert health["status"] == "degraded"
    finally:
        app.extensions["turnero"].stop()
        app.extensions["turnero"].store.close()


# ----------------------------------------------------------------- audio helpers


def test_trim_join_and_resample_keep_speech_and_drop_silence():
    tone = audio.chime(8000)
    padded = audio.Clip(8000, audio.silence(8000, 500) + tone.samples + audio.silence(8000, 500))
    trimmed = audio.trim(padded)
    assert tone.duration - 0.2 < trimmed.duration < tone.duration + 0.1
    assert audio.trim(audio.Clip(8000, audio.silence(8000, 300))).samples == audio.silence(8000, 0)
    faster = audio.resample(tone, 16000)
    assert faster.rate == 16000 and abs(faster.duration - tone.duration) < 0.01
    joined = audio.join([tone, None, faster], 16000)
    assert joined.rate == 16000 and joined.duration > 2 * tone.duration + 0.25


def test_voice_pack_commands_generate_and_check(tmp_path):
    data_dir = write_sede(tmp_path / "data")
    packs = tmp_path / "packs"
    env = {"PATH": "/usr/bin:/bin", "TURNERO_VOICE_PACK_DIR": str(packs), "TURNERO_VOICE_ENGINE": "pack"}
    run = [sys.executable, "-m", "display.voice_pack", "--data-dir", str(data_dir)]
    root = Path(__file__).resolve().parent.parent
    made = subprocess.run(run + ["generate", str(packs)], capture_output=True, text=True, cwd=root, env=env,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    assert (packs / "es" / "manifest.json").is_file()
    checked = subprocess.run(run + ["check"], capture_output=True, text=True, cwd=root, env=env, timeout=60)
    report = json.loads(checked.stdout)
    assert report["es"]["missing"] == []
    assert report["qu"]["pack"] is False  # the test sede lists Quechua; no pack, so it is reported
    assert checked.returncode == 1
