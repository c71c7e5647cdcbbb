"""One sede's language work serves every sede (issue #13): a box proposes its reviewed strings
and recorded voice pack to the real central receiver on 127.0.0.1, the central office approves
them, and another box pulls, verifies and applies them live. The texts are throw-away test
content in Shipibo-Konibo's slot (``shp``, which no other test publishes), never a translation."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import stat
import subprocess
import sys
import wave
import zipfile
from pathlib import Path

import pytest
import requests
from conftest import SEDE_TOML, write_sede

from central.languages import approve
from central.service import add_sede, add_viewer
from central.testing import CentralServer
from sync.client import CentralClient
from sync.languages import publish
from tests.test_central import fresh_postgres_url, postgres_server  # noqa: F401 - the session fixture
from tests.test_sync import SEDE, BoxUnderTest, sync_table
from tests.test_sync import central  # noqa: F401 - the receiver on SQLite
from turnero import i18n
from turnero.errors import DomainError
from turnero.language_share import LanguageSyncState, PackageError, apply_voice
from turnero.translations import Translations
from turnero.voice_packs import VERSION_KEY as VOICE_VERSION, pack_version

LANG = "shp"
KEY, OTHER_KEY = "kiosk.choose_service", "kiosk.back"
OTHER_SEDE = "TEST-02"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_central(request, tmp_path):
    """The receiver on SQLite and, when a PostgreSQL server can be started here, on PostgreSQL."""
    url = (f"sqlite:///{tmp_path / 'central.db'}" if request.param == "sqlite"
           else fresh_postgres_url(request.getfixturevalue("postgres_server")))
    server = CentralServer(url).start()
    server.token = add_sede(server.db, SEDE, "Sede de prueba")
    yield server
    server.stop()


@pytest.fixture
def boxes(tmp_path, clock):
    made = []

    def make(server, sede=SEDE, token=None):
        folder = tmp_path / f"box-{sede}-{len(made)}"
        text = SEDE_TOML.replace('code = "TEST-01"', f'code = "{sede}"') + \
            f'\n[voice]\nengine = "none"\npack_dir = "{folder / "packs"}"\n' + \
            sync_table(server.url, token or server.token)
        box = BoxUnderTest(write_sede(folder, text), clock)
        made.append(box)
        return box

    yield make
    i18n.init(None)
    for box in made:
        box.close()


def second_sede(server) -> str:
    return add_sede(server.db, OTHER_SEDE, "Otra sede")


def reviewed(box, *pairs):
    """Throw-away reviewed strings in box's translation store (written by rosa, reviewed by juan)."""
    translations = Translations(box.store)
    for key, text in pairs:
        translations.save(LANG, key, text, "rosa")
        translations.review(LANG, key, "juan")


def catalog_of(box) -> dict:
    i18n.init(Translations(box.store))  # the catalogs this box's processes show
    return i18n.catalog(LANG)


def pull(box) -> dict:
    agent = box.agent()
    try:
        return agent.pull_languages()
    finally:
        agent.close()


def test_a_catalog_published_by_one_sede_reaches_another_only_after_approval(any_central, boxes):
    a, b = boxes(any_central), boxes(any_central, OTHER_SEDE, second_sede(any_central))
    reviewed(a, (KEY, "PRUEBA shp elija"), (OTHER_KEY, "PRUEBA shp impresora"))
    Translations(a.store).save(LANG, "kiosk.title", "PRUEBA borrador", "rosa")  # a draft never leaves
    assert pull(b) == {"applied": 0, "refused": 0} and KEY not in catalog_of(b)

    sent = publish(a.engine, a.settings.sync, LANG, "juan")
    assert [(item["kind"], item["items"]) for item in sent] == [("catalog", 2)]
    assert pull(b) == {"applied": 0, "refused": 0} and KEY not in catalog_of(b)  # proposed is not approved

    approved = approve(any_central.db, sent[0]["id"], "jefa")
    assert (approved["state"], approved["version"], approved["sha256"]) == ("aprobado", 1, sent[0]["sha256"])
    assert pull(b) == {"applied": 1, "refused": 0}
    shown = catalog_of(b)
    assert shown[KEY] == "PRUEBA shp elija" and shown[OTHER_KEY] == "PRUEBA shp impresora"
    assert "kiosk.title" not in shown
    entry = Translations(b.store).entries(LANG)[KEY]
    assert (entry["state"], entry["reviewer"]) == ("revisado", "central")
    audit = b.store.read_one("SELECT action, actor, details FROM audit_log WHERE action = 'translation.central_apply'")
    assert audit["actor"] == "central" and json.loads(audit["details"])["translation"]["central_version"] == 1
    assert pull(b) == {"applied": 0, "refused": 0}  # the cursor is kept: nothing new


def test_a_tampered_package_is_refused_the_box_keeps_what_it_had_and_the_cursor_resumes(central, boxes, clock):
    a, b = boxes(central), boxes(central, OTHER_SEDE, second_sede(central))
    reviewed(a, (KEY, "PRUEBA shp uno"))
    approve(central.db, publish(a.engine, a.settings.sync, LANG, "juan")[0]["id"], "jefa")
    assert pull(b)["applied"] == 1 and catalog_of(b)[KEY] == "PRUEBA shp uno"

    # Another sede reviews it locally meanwhile; the central's approved version wins for its keys.
    reviewed(b, (OTHER_KEY, "PRUEBA shp local"))
    Translations(a.store).save(LANG, KEY, "PRUEBA shp dos", "rosa")
    Translations(a.store).review(LANG, KEY, "juan")
    second = publish(a.engine, a.settings.sync, LANG, "juan")[0]
    approve(central.db, second["id"], "jefa")
    original = central.db.one("SELECT data FROM language_blobs WHERE id = ?", (second["id"],))[0]
    tampered = base64.b64encode(base64.b64decode(original).replace(b"PRUEBA shp dos", b"PRUEBA shp MAL")).decode()
    with central.db.transaction() as tx:
        tx.execute("UPDATE language_blobs SET data = ? WHERE id = ?", (tampered, second["id"]))

    result = pull(b)
    assert result["applied"] == 0 and "sha256" in result["error"]
    assert catalog_of(b)[KEY] == "PRUEBA shp uno"  # kept what it had
    from turnero import create_app

    app = create_app({"DATA_DIR": str(b.data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    try:
        health = app.test_client().get("/healthz").get_json()["sync"]
        assert "sha256" in health["language_packages_error"] and health["language_packages_error_at"]
        assert health["language_packages_applied"] == {f"{LANG}/catalog": 1}
    finally:
        app.extensions["turnero"].store.close()

    with central.db.transaction() as tx:  # the central's copy is repaired: the next pull gets it
        tx.execute("UPDATE language_blobs SET data = ? WHERE id = ?", (original, second["id"]))
    assert pull(b) == {"applied": 1, "refused": 0}
    shown = catalog_of(b)
    assert shown[KEY] == "PRUEBA shp dos" and shown[OTHER_KEY] == "PRUEBA shp local"  # not in the package: kept
    assert LanguageSyncState(b.store).status(b.engine.clock)["language_packages_error"] is None
    assert pull(b) == {"applied": 0, "refused": 0}


def wav_bytes(frames: int = 2205) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(b"\x01\x00" * frames)
    return out.getvalue()


def make_reviewed_pack(box) -> dict:
    """A recorded pack as the voice studio leaves it once every clip is reviewed."""
    folder = Path(box.settings.voice["pack_dir"]) / LANG
    clips, studio = {}, {}
    for key in ("word:turno", "digit:1", "letter:a"):
        name = f"{key.split(':')[0]}s/{key.split(':')[1]}-0000abcd.wav"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(wav_bytes())
        clips[key] = name
        studio[key] = {"state": "revisado", "author": "rosa", "recorded_at": 1.0, "reviewer": "juan",
                       "reviewed_at": 2.0}
    manifest = {"format": 1, "language": LANG, "source": "prueba", "phrase": ["word:turno", "{code}", ",", "{counter}"],
                "clips": clips, "studio": studio}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def zipped(entries: dict, symlink: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


def test_a_voice_pack_lands_in_pack_dir_atomically_and_a_path_traversal_is_refused(central, boxes):
    a, b = boxes(central), boxes(central, OTHER_SEDE, second_sede(central))
    make_reviewed_pack(a)
    reviewed(a, (KEY, "PRUEBA shp voz"))
    sent = {item["kind"]: item for item in publish(a.engine, a.settings.sync, LANG, "juan")}
    assert sent["voice"]["items"] == 3

    # Refused at the central, whatever the box says: a path out of the folder, an absolute path, a link.
    client = CentralClient(central.url, SEDE, central.token)
    manifest = json.dumps({"format": 1, "language": LANG, "clips": {"word:turno": "words/turno.wav"}})
    for bad in (zipped({"manifest.json": manifest, "words/turno.wav": wav_bytes(), "../../evil.wav": wav_bytes()}),
                zipped({"manifest.json": manifest, "words/turno.wav": wav_bytes(), "/tmp/evil.wav": wav_bytes()}),
                zipped({"manifest.json": manifest, "words/turno.wav": wav_bytes()}, symlink="words/link.wav")):
        with pytest.raises(Exception) as caught:
            client.propose({"language": LANG, "kind": "voice", "version": "x"}, bad)
        assert "invalid_package" in str(caught.value)
        # ...and at the box, before anything is written.
        with pytest.raises(PackageError):
            apply_voice(b.store, b.settings.voice["pack_dir"], LANG, bad, 9)
    client.close()
    packs = Path(b.settings.voice["pack_dir"])
    assert not (packs / LANG).exists() and not list(packs.parent.glob("**/evil.wav"))

    before = pack_version(b.store)
    approve(central.db, sent["voice"]["id"], "jefa")
    assert pull(b) == {"applied": 1, "refused": 0}
    landed = json.loads((packs / LANG / "manifest.json").read_text(encoding="utf-8"))
    assert set(landed["clips"]) == {"word:turno", "digit:1", "letter:a"}
    assert all(entry["state"] == "revisado" and entry["reviewer"] == "central" for entry in landed["studio"].values())
    assert (packs / LANG / landed["clips"]["digit:1"]).read_bytes() == wav_bytes()
    assert pack_version(b.store) == before + 1  # the voice re-reads its packs
    assert sorted(path.name for path in packs.iterdir()) == [LANG]  # no temporary folder left beside it

    # A newer approved pack replaces the folder whole (the exchange leaves nothing of the old one).
    folder = Path(a.settings.voice["pack_dir"]) / LANG
    (folder / "letters" / "a-0000abcd.wav").unlink()
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data["clips"]["letter:a"] = "letters/a-1111abcd.wav"
    (folder / "letters" / "a-1111abcd.wav").write_bytes(wav_bytes(4410))
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    again = {item["kind"]: item for item in publish(a.engine, a.settings.sync, LANG, "juan")}["voice"]
    assert approve(central.db, again["id"], "jefa")["version"] == 2
    assert pull(b) == {"applied": 1, "refused": 0}
    assert not (packs / LANG / "letters" / "a-0000abcd.wav").exists()
    assert (packs / LANG / "letters" / "a-1111abcd.wav").read_bytes() == wav_bytes(4410)
    assert sorted(path.name for path in packs.iterdir()) == [LANG]
    assert b.store.read_one("SELECT value FROM kv WHERE key = ?", (VOICE_VERSION,))[0] == str(before + 2)


def test_tokens_decide_who_proposes_and_who_pulls(central, boxes):
    other = second_sede(central)
    box = boxes(central)
    reviewed(box, (KEY, "PRUEBA shp token"))
    catalog = {"format": 1, "kind": "catalog", "language": LANG, "strings": {KEY: "PRUEBA"}}
    form = {"metadata": (None, json.dumps({"language": LANG, "kind": "catalog"})),
            "package": ("c.json", json.dumps(catalog).encode())}
    url = f"{central.url}/api/v1/sedes/{SEDE}/languages"
    as_other = requests.post(url, files=form, headers={"Authorization": f"Bearer {other}"}, timeout=30)
    assert as_other.status_code == 403 and as_other.json()["error"]["code"] == "wrong_sede"
    anonymous = requests.post(url, files=form, timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "missing_token"
    assert requests.get(f"{central.url}/api/v1/languages", timeout=30).status_code == 401
    bad = requests.get(f"{central.url}/api/v1/languages", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert bad.status_code == 401
    own = requests.post(url, files=form, headers={"Authorization": f"Bearer {central.token}"}, timeout=30)
    assert own.status_code == 201 and own.json()["items"] == 1
    package = f"{central.url}/api/v1/languages/packages/{own.json()['id']}"
    # A proposal is handed to nobody before approval; then to any sede's token, and only to one.
    assert requests.get(package, headers={"Authorization": f"Bearer {other}"}, timeout=30).status_code == 404
    approve(central.db, own.json()["id"], "jefa")
    assert requests.get(package, timeout=30).status_code == 401
    got = requests.get(package, headers={"Authorization": f"Bearer {other}"}, timeout=30)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == own.json()["sha256"]
    listed = requests.get(f"{central.url}/api/v1/languages", headers={"Authorization": f"Bearer {other}"},
                          timeout=30).json()
    assert [(p["language"], p["kind"], p["version"]) for p in listed["packages"]] == [(LANG, "catalog", 1)]
    assert listed["packages"][0]["url"].endswith(f"/api/v1/languages/packages/{own.json()['id']}")
    after = requests.get(f"{central.url}/api/v1/languages", params={"since": listed["cursor"]},
                         headers={"Authorization": f"Bearer {other}"}, timeout=30).json()
    assert after == {"packages": [], "cursor": listed["cursor"]}
    with pytest.raises(DomainError) as caught:
        publish(box.engine, box.settings.sync, "es", "juan")
    assert caught.value.code == "invalid_language"


def test_the_central_office_sees_proposals_with_their_changes_and_approves_by_page_or_cli(central, boxes, tmp_path):
    box = boxes(central)
    reviewed(box, (KEY, "PRUEBA shp pagina"))
    first = publish(box.engine, box.settings.sync, LANG, "juan")[0]
    approve(central.db, first["id"], "jefa")
    reviewed(box, (OTHER_KEY, "PRUEBA shp nueva"))
    second = publish(box.engine, box.settings.sync, LANG, "juan")[0]
    viewer = add_viewer(central.db, "jefa")
    basic = "Basic " + base64.b64encode(f"jefa:{viewer}".encode()).decode()
    assert requests.get(f"{central.url}/idiomas", timeout=30).status_code == 401
    page = requests.get(f"{central.url}/idiomas", headers={"Authorization": basic}, timeout=30)
    assert page.status_code == 200 and "1 nuevos, 0 cambiados, 0 quitados" in page.text
    assert "Aprobar" in page.text and "Aprobado: versión 1 (por jefa)" in page.text
    forged = requests.post(f"{central.url}/idiomas/{second['id']}/aprobar", timeout=30, allow_redirects=False,
                           headers={"Authorization": basic, "Origin": "http://elsewhere.test"})
    assert forged.status_code == 403
    done = requests.post(f"{central.url}/idiomas/{second['id']}/aprobar", timeout=30, allow_redirects=False,
                         headers={"Authorization": basic, "Origin": central.url})
    assert done.status_code == 303

    reviewed(box, ("kiosk.title", "PRUEBA shp tres"))
    third = publish(box.engine, box.settings.sync, LANG, "juan")[0]
    database = ["--database-url", central.db.url]
    listing = subprocess.run([sys.executable, "-m", "central.cli", "languages", "list", *database],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].startswith(f"{third['id']}\t{LANG}\tcatalog\t{SEDE}") and "+1 ~0 -0 vs v2" in lines[0]
    assert "aprobado v2 by jefa" in lines[1]
    approved = subprocess.run([sys.executable, "-m", "central.cli", "languages", "approve", str(third["id"]),
                               "--by", "jefa", *database], capture_output=True, text=True, timeout=60)
    assert approved.returncode == 0 and "version 3" in approved.stdout
    again = subprocess.run([sys.executable, "-m", "central.cli", "languages", "approve", str(third["id"]), *database],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already_approved" in again.stderr


def test_the_box_cli_publishes(central, boxes):
    box = boxes(central)
    result = subprocess.run([sys.executable, "-m", "turnero.cli", "i18n-publish", LANG, "--data-dir", str(box.data_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "revisados" in result.stderr
    reviewed(box, (KEY, "PRUEBA shp cli"))
    result = subprocess.run([sys.executable, "-m", "turnero.cli", "i18n-publish", LANG, "--data-dir", str(box.data_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1 item(s) proposed" in result.stdout
    assert central.db.one("SELECT COUNT(*) FROM language_packages WHERE state = 'revisado'")[0] == 1


def test_the_studio_button_publishes_to_the_central(central, boxes, clock):
    from tests.conftest import add_users_fast
    from tests.test_translation_studio import _csrf, _session
    from turnero import create_app

    box = boxes(central)
    reviewed(box, (KEY, "PRUEBA shp boton"))
    app = create_app({"DATA_DIR": str(box.data_dir), "NOW": clock, "ENV": {}, "START_WORKERS": False})
    try:
        tokens = add_users_fast(app.extensions["turnero"].store, {"tina": "traductor"})
        client = app.test_client()
        _session(client, tokens["tina"])
        page = client.get(f"/admin/traducciones/{LANG}").get_data(as_text=True)
        assert "Publicar en la central" in page
        no_csrf = client.post(f"/admin/traducciones/{LANG}/publicar")
        assert no_csrf.status_code == 400
        done = client.post(f"/admin/traducciones/{LANG}/publicar",
                           data={"csrf_token": _csrf(client, f"/admin/traducciones/{LANG}")})
        assert done.status_code == 200 and "Propuesta enviada a la central (1 paquete(s))" in done.get_data(as_text=True)
    finally:
        app.extensions["turnero"].store.close()
    row = central.db.one("SELECT sede, language, kind, state, items FROM language_packages")
    assert tuple(row) == (SEDE, LANG, "catalog", "revisado", 1)


def test_approvals_at_once_get_distinct_versions_and_a_double_approval_fails_once(any_central):
    """Two people approving at the same moment: each package its own version and place in the pull
    order, and the same package approved twice at once is approved once (the other gets 409)."""
    from concurrent.futures import ThreadPoolExecutor

    from central.languages import list_packages, propose
    from central.service import CentralError

    def proposal(text):
        body = {"format": 1, "kind": "catalog", "language": LANG, "strings": {KEY: text}}
        return propose(any_central.db, SEDE, json.dumps({"language": LANG, "kind": "catalog"}),
                       json.dumps(body).encode())["id"]

    def attempt(ident):
        try:
            return approve(any_central.db, ident, "jefa")["version"]
        except CentralError as exc:
            return exc.code

    first, second = proposal("PRUEBA uno"), proposal("PRUEBA dos")
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, [first, second, first, second]))
    assert sorted(outcomes, key=str) == [1, 2, "already_approved", "already_approved"]
    approved = [item for item in list_packages(any_central.db) if item["state"] == "aprobado"]
    # A refused approval leaves no hole: versions and the pull order follow the approvals.
    assert sorted((item["version"], item["approved_seq"]) for item in approved) == [(1, 1), (2, 2)]


def test_a_pull_interrupted_mid_apply_keeps_the_cursor_and_the_next_pull_resumes(central, boxes, monkeypatch):
    """A fault while applying (the disk full under the voice pack, the database busy) is not a
    refusal: nothing is half applied, the error shows in /healthz, and the next pull applies it."""
    import sync.languages

    a, b = boxes(central), boxes(central, OTHER_SEDE, second_sede(central))
    reviewed(a, (KEY, "PRUEBA shp corte"))
    approve(central.db, publish(a.engine, a.settings.sync, LANG, "juan")[0]["id"], "jefa")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(sync.languages, "apply_catalog", full_disk)
        result = pull(b)
    assert result["applied"] == 0 and "No space left" in result["error"]
    assert LanguageSyncState(b.store).cursor() is None and KEY not in catalog_of(b)
    assert "No space left" in LanguageSyncState(b.store).status(b.engine.clock)["language_packages_error"]
    assert pull(b) == {"applied": 1, "refused": 0} and catalog_of(b)[KEY] == "PRUEBA shp corte"
