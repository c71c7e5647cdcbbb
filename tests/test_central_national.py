"""The central at national scale: day summaries kept as events arrive (equal to a hand count and
to a rebuild from raw events, each event counted once), each sede's own day and targets as its
box sends them, the national page in plain Spanish, and pruning raw events without changing any
figure. The key ones run on SQLite and PostgreSQL (fixtures of tests/test_central.py)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
import requests

from central import create_app, kpis
from central.service import add_sede, add_viewer
from central.kpis import BUCKET_SECONDS, prune_events, rebuild_summaries
from test_central import basic, database_url, postgres_server  # noqa: F401 - fixtures
from test_sync import SEDE as SYNC_SEDE, central, make_box, simulate_day  # noqa: F401 - fixtures

SEDE = "LIM-01"
DAY = "2026-11-25"
SERVICES = {"ORI": {"name": "Orientación legal", "target_wait_minutes": 20},
            "PEN": {"name": "Defensa penal", "target_wait_minutes": 45}}


@pytest.fixture
def app(database_url):
    app = create_app(database_url, {"TESTING": True})
    app.token = add_sede(app.extensions["central_db"], SEDE, "ALEGRA Lima Centro")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = basic("auditora", add_viewer(app.extensions["central_db"],
                                                                             "auditora"))["Authorization"]
    app.client = client
    yield app
    app.extensions["central_db"].close()


def ev(seq, kind="ticket.issued", service="ORI", at=f"{DAY}T10:00:00.000-05:00", wait=None, outcome="resolved",
       counter="v1", prefix="ev", **extra):
    data = {"ticket": {"id": f"t{seq}", "service": service}, **extra}
    if kind in ("ticket.finished", "ticket.no_show"):
        data["attention"] = {"ticket_id": f"t{seq}", "service": service, "counter": counter,
                             "outcome": "no_show" if kind == "ticket.no_show" else outcome,
                             "wait_seconds": wait, "service_seconds": 300.0 if kind == "ticket.finished" else None}
    return {"seq": seq, "id": f"{prefix}-{seq}", "type": kind, "at": at, "data": data}


def push(app, events, sede=SEDE, token=None, **extra):
    answer = app.client.post(f"/api/v1/sedes/{sede}/events", json={"sede": sede, "events": events, **extra},
                             headers={"Authorization": f"Bearer {token or app.token}"})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["acked_seq"]


def daily(app, sede=SEDE):
    return app.extensions["central_db"].all(
        "SELECT day, dimension, key, issued, served, no_shows, cancelled, transferred, expired, waits, service_times "
        "FROM daily WHERE sede = ? ORDER BY day, dimension, key", (sede,))


def monthly(app, sede=SEDE):
    return app.extensions["central_db"].all(
        "SELECT month, dimension, key, issued, served, no_shows, cancelled, transferred, expired, waits, service_times "
        "FROM monthly WHERE sede = ? ORDER BY month, dimension, key", (sede,))


def a_day():
    """Ten ORI tickets and four PEN tickets; waits in minutes as listed; a no-show, a cancellation,
    a transfer from ORI to PEN."""
    events = [ev(seq, service="ORI" if seq <= 10 else "PEN") for seq in range(1, 15)]
    waits = [("ORI", 5), ("ORI", 12), ("ORI", 19), ("ORI", 25), ("ORI", 40), ("PEN", 30), ("PEN", 50)]
    for service, minutes in waits:
        events.append(ev(len(events) + 1, "ticket.finished", service, wait=minutes * 60.0))
    events.append(ev(len(events) + 1, "ticket.no_show", "ORI", counter="v2"))
    events.append(ev(len(events) + 1, "ticket.cancelled", "ORI"))
    events.append(ev(len(events) + 1, "ticket.transferred", "PEN", **{"from": {"service": "ORI"}}))
    return events, waits


def test_summaries_equal_a_hand_count_and_a_rebuild_and_count_resent_events_once(app):
    events, waits = a_day()
    push(app, events[:10])
    push(app, events[5:])  # at least once: half of it again
    push(app, events)  # and all of it again
    rows = {(r[1], r[2]): r for r in daily(app)}
    assert {k: r[3:9] for k, r in rows.items()} == {
        ("service", "ORI"): (10, 5, 1, 1, 1, 0), ("service", "PEN"): (4, 2, 0, 0, 0, 0),
        ("counter", "v1"): (0, 7, 0, 0, 0, 0), ("counter", "v2"): (0, 0, 1, 0, 0, 0),
        ("language", ""): (14, 7, 1, 0, 0, 0)}  # these tickets name no language
    ori_waits = json.loads(rows[("service", "ORI")][9])
    assert sum(ori_waits.values()) == 5 and ori_waits[str(5 * 60 // BUCKET_SECONDS)] == 1

    figures = app.client.get(f"/api/v1/sedes/{SEDE}/kpis?from={DAY}").get_json()
    exact = sorted(m * 60 for _, m in waits)
    assert abs(figures["totals"]["wait_seconds"]["median"] - exact[len(exact) // 2]) <= BUCKET_SECONDS
    assert (figures["totals"]["issued"], figures["totals"]["served"], figures["totals"]["no_shows"]) == (14, 7, 1)

    before, months = daily(app), monthly(app)
    assert [m[3:9] for m in months] == [r[3:9] for r in before]  # one day: the month is that day
    assert rebuild_summaries(app.extensions["central_db"], SEDE) == {SEDE: len(events)}
    assert daily(app) == before and monthly(app) == months  # incremental == rebuilt from raw events


def test_figures_by_the_tickets_language_on_the_sede_and_national_pages(app):
    def spoken(seq, kind, language, **kwargs):
        event = ev(seq, kind, **kwargs)
        event["data"]["ticket"]["language"] = language
        return event

    events = [spoken(1, "ticket.issued", "qu"), spoken(2, "ticket.issued", "qu"), spoken(3, "ticket.issued", "es"),
              spoken(4, "ticket.finished", "qu", wait=600.0), spoken(5, "ticket.no_show", "qu"),
              spoken(6, "ticket.finished", "es", wait=120.0)]
    push(app, events)
    figures = kpis.sede_kpis(app.extensions["central_db"], SEDE, DAY, DAY)
    by_language = {row["language"]: row for row in figures["languages"]}
    assert {code: (row["issued"], row["served"], row["no_shows"]) for code, row in by_language.items()} == {
        "es": (1, 1, 0), "qu": (2, 1, 1)}
    assert abs(by_language["qu"]["wait_seconds"]["median"] - 600) <= BUCKET_SECONDS
    before = daily(app)
    rebuild_summaries(app.extensions["central_db"], SEDE)
    assert daily(app) == before  # the language rows come from the raw events too

    for path in (f"/sedes/{SEDE}?from={DAY}&to={DAY}", f"/?from={DAY}&to={DAY}"):
        page = app.client.get(path).get_data(as_text=True)
        table = page[page.index('id="by-language"'):]
        assert "Por idioma del turno" in page and "Runasimi (Quechua)" in table and "Español" in table, path


def test_pushes_and_a_rebuild_at_once_count_each_event_once(app):
    """Two boxes pushing at the same moment, one of them twice (a retry overlapping its first try),
    while the summaries are rebuilt: each event counted once, and the same as a rebuild after."""
    from concurrent.futures import ThreadPoolExecutor

    db = app.extensions["central_db"]
    other = "CUS-01"
    tokens = {SEDE: app.token, other: add_sede(db, other, "ALEGRA Cusco")}
    events, _ = a_day()

    def send(code):
        answer = app.test_client().post(f"/api/v1/sedes/{code}/events", json={"sede": code, "events": events},
                                        headers={"Authorization": f"Bearer {tokens[code]}"})
        return answer.status_code, answer.get_json()["acked_seq"]

    with ThreadPoolExecutor(4) as pool:
        pushes = [pool.submit(send, code) for code in (SEDE, other, SEDE)]
        rebuilt = pool.submit(rebuild_summaries, db)
        assert [p.result() for p in pushes] == [(200, len(events))] * 3
        rebuilt.result()
    expected = {("service", "ORI"): (10, 5, 1, 1, 1, 0), ("service", "PEN"): (4, 2, 0, 0, 0, 0),
                ("counter", "v1"): (0, 7, 0, 0, 0, 0), ("counter", "v2"): (0, 0, 1, 0, 0, 0),
                ("language", ""): (14, 7, 1, 0, 0, 0)}
    for code in (SEDE, other):
        before = daily(app, code), monthly(app, code)
        assert {(r[1], r[2]): r[3:9] for r in before[0]} == expected, code
        rebuild_summaries(db, code)
        assert (daily(app, code), monthly(app, code)) == before, code


def test_a_restored_box_resending_its_history_counts_once(app):
    events, _ = a_day()
    push(app, events, epoch="0b6f3c2e-9f1d-4d7a-8a52-1c3e5f7a9b0d")
    before = daily(app)
    push(app, events, epoch="7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6")  # same ids, new epoch
    after_restore = [ev(1, prefix="new")]
    push(app, [ev(len(events) + 1, prefix="new")], epoch="7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6")
    ori = {(r[1], r[2]): r for r in daily(app)}[("service", "ORI")]
    assert ori[3] == {(r[1], r[2]): r for r in before}[("service", "ORI")][3] + len(after_restore)
    rebuilt = daily(app)
    rebuild_summaries(app.extensions["central_db"], SEDE)
    assert daily(app) == rebuilt


def test_each_sede_has_its_own_day_boundaries(app):
    db = app.extensions["central_db"]
    tokyo = add_sede(db, "TYO-01", "Sede de prueba en Tokio")
    late = "2026-11-25T23:30:00.000Z"  # 18:30 in Lima, 08:30 next day in Tokyo
    push(app, [ev(1, at=late)])  # no time zone sent: America/Lima
    push(app, [ev(1, at=late)], sede="TYO-01", token=tokyo, timezone="Asia/Tokyo")
    assert {r[0] for r in daily(app)} == {"2026-11-25"}
    assert {r[0] for r in daily(app, "TYO-01")} == {"2026-11-26"}
    assert db.one("SELECT day FROM events WHERE sede = 'TYO-01'")[0] == "2026-11-26"
    now = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc)  # still the 25th in Lima, the 26th in Tokyo
    today = {row["code"]: row for row in kpis.today(db, now)["sedes"]}
    assert today[SEDE]["day"] == "2026-11-25" and today[SEDE]["totals"]["issued"] == 1
    assert today["TYO-01"]["day"] == "2026-11-26" and today["TYO-01"]["totals"]["issued"] == 1
    bad = app.client.post("/api/v1/sedes/TYO-01/events", json={"sede": "TYO-01", "events": [], "timezone": "Mars/Base"},
                          headers={"Authorization": f"Bearer {tokyo}"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_timezone"


def test_per_service_targets_come_from_the_push_else_the_default(app):
    db = app.extensions["central_db"]
    # 25 minutes: within the default 30, not within ORI's 20.
    events = [ev(1), ev(2, "ticket.finished", wait=25 * 60.0)]
    push(app, events)
    first = kpis.sede_kpis(db, SEDE, DAY, DAY)
    assert first["services"][0]["target_wait_minutes"] == 30 and first["totals"]["within_target_share"] == 1.0
    push(app, [ev(3, "ticket.finished", "PEN", wait=40 * 60.0)], services=SERVICES, timezone="America/Lima")
    second = kpis.sede_kpis(db, SEDE, DAY, DAY)
    by_code = {row["code"]: row for row in second["services"]}
    assert by_code["ORI"]["target_wait_minutes"] == 20 and by_code["ORI"]["within_target_share"] == 0.0
    assert by_code["PEN"]["target_wait_minutes"] == 45 and by_code["PEN"]["within_target_share"] == 1.0
    assert by_code["ORI"]["name"] == "Orientación legal"
    assert second["totals"]["within_target_share"] == 0.5
    bad = app.client.post(f"/api/v1/sedes/{SEDE}/events", json={"sede": SEDE, "events": [], "services": {
        "ORI": {"target_wait_minutes": "veinte"}}}, headers={"Authorization": f"Bearer {app.token}"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_services"


def test_the_national_page_speaks_plain_spanish_with_local_times(app):
    db = app.extensions["central_db"]
    add_sede(db, "CUS-01", "ALEGRA Cusco")  # never sent anything
    today = datetime.now(timezone.utc).astimezone(kpis.ZoneInfo("America/Lima")).date().isoformat()
    events = [ev(seq, at=f"{today}T09:00:00.000-05:00") for seq in range(1, 4)]
    events.append(ev(4, "ticket.finished", at=f"{today}T09:30:00.000-05:00", wait=35 * 60.0))
    push(app, events, services=SERVICES, timezone="America/Lima")
    html = app.client.get("/").get_data(as_text=True)
    assert "Resumen nacional" in html and "Hoy en cada sede" in html
    assert "ALEGRA Lima Centro" in html and "ALEGRA Cusco" in html
    assert "hace unos segundos" in html and "hora de Lima" in html and "nunca" in html
    assert "Espera sobre la meta en Orientación legal" in html
    assert "de 20 a 45 min" in html  # the targets the box sent (ORI 20, PEN 45)
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text)  # no ISO timestamps
    assert "None" not in text and "{'" not in text and "UTC" not in text
    # The sede row that needs attention comes before the one that has nothing open.
    assert text.index("ALEGRA Lima Centro") < text.index("ALEGRA Cusco")
    sede = app.client.get(f"/sedes/{SEDE}?from={today}").get_data(as_text=True)
    assert "Orientación legal" in sede and "hace unos segundos" in sede and "None" not in sede
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", re.sub(r"<[^>]+>", " ", sede))
    for order in kpis.ORDERS:
        assert app.client.get(f"/?orden={order}").status_code == 200
    year = app.client.get(f"/?from=2025-12-01&to={today}")
    assert year.status_code == 200


def test_pruning_raw_events_keeps_summaries_and_figures(app):
    db = app.extensions["central_db"]
    old = [ev(seq, at="2026-01-10T10:00:00.000-05:00") for seq in range(1, 4)]
    old.append(ev(4, "ticket.finished", at="2026-01-10T10:30:00.000-05:00", wait=600.0))
    recent = [ev(seq, at=f"{DAY}T10:00:00.000-05:00") for seq in range(5, 7)]
    push(app, old + recent)
    figures = kpis.national(db, "2026-01-01", DAY)
    summaries_before, months = daily(app), monthly(app)
    from datetime import date

    assert prune_events(db, 30, today=date(2026, 11, 26)) == {SEDE: 4}
    assert db.one("SELECT COUNT(*) FROM events")[0] == 2
    assert daily(app) == summaries_before and kpis.national(db, "2026-01-01", DAY) == figures
    rebuild_summaries(db)  # only the kept window is recomputed; the pruned days stay as they were
    assert daily(app) == summaries_before and monthly(app) == months
    push(app, old + recent)  # a re-send of pruned days is stored raw again but not counted twice
    assert kpis.national(db, "2026-01-01", DAY)["totals"] == figures["totals"]


def test_the_box_sends_its_services_and_time_zone(central, make_box):  # noqa: F811
    box = make_box(central.url, central.token)
    simulate_day(box.engine, tickets=3)
    box.agent().push_all()
    row = central.db.one("SELECT timezone, services FROM sedes WHERE code = 'TEST-01'")
    services = json.loads(row[1])
    assert row[0] == box.settings.sede["timezone"]
    assert set(services) == set(box.settings.services)
    for code, service in box.settings.services.items():
        assert services[code] == {"name": service.name("es"), "target_wait_minutes": service.target_wait_minutes}


def test_the_central_pages_fit_the_office_screen(central, browser):
    """The national overview, a sede's page and the languages page in Chromium at 1366x768: plain
    Spanish, nothing wider than the screen, no header broken inside a word."""
    from conftest import broken_words, screenshot

    db = central.db
    lima_now = datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")
    events = [ev(seq, at=lima_now, service="ORI" if seq % 3 else "PEN") for seq in range(1, 13)]
    for seq in range(13, 21):
        events.append(ev(seq, "ticket.finished", "ORI" if seq % 2 else "PEN", at=lima_now, wait=60.0 * seq))
    for event in events:
        event["data"]["ticket"]["language"] = "qu" if event["seq"] % 4 == 0 else "es"
    answer = requests.post(f"{central.url}/api/v1/sedes/{SYNC_SEDE}/events",
                           json={"sede": SYNC_SEDE, "events": events, "services": SERVICES,
                                 "timezone": "America/Lima"},
                           headers={"Authorization": f"Bearer {central.token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    from central import languages

    catalog = json.dumps({"format": 1, "kind": "catalog", "language": "qu", "sede": SYNC_SEDE, "version": "3",
                          "strings": {"kiosk.title": "PRUEBA título"}}).encode()
    languages.propose(db, SYNC_SEDE, json.dumps({"language": "qu", "kind": "catalog", "version": "3",
                                                 "reviewed_by": ["tina"]}), catalog)
    password = add_viewer(db, "oficina")
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="es-PE",
                                  http_credentials={"username": "oficina", "password": password})
    try:
        page = context.new_page()
        for path, name in (("/", "central-overview"), (f"/sedes/{SYNC_SEDE}", "central-sede"),
                           ("/idiomas", "central-languages")):
            page.goto(central.url + path)
            screenshot(page, f"{name}-1366x768")
            text = page.locator("body").inner_text()
            assert not re.search(r"\d{4}-\d{2}-\d{2}T|\{'|\['|None\b|central\.\w+", text), (path, text[:300])
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, (path, wide)
            assert broken_words(page) == [], path  # no code cut at its hyphen, no heading inside a word
    finally:
        context.close()


def test_pages_say_what_went_wrong_in_spanish_and_the_api_keeps_its_codes(app):
    missing = app.client.get("/sedes/NO-SUCH")
    text = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "No hay ninguna sede con ese código." in text
    assert "unknown_sede" in text  # the code stays, small, for support
    bad = app.client.get("/?from=ayer")
    assert bad.status_code == 400 and "Una de las fechas no es válida" in bad.get_data(as_text=True)
    assert "YYYY-MM-DD" not in bad.get_data(as_text=True)  # not the API's English
    api = app.client.get(f"/api/v1/sedes/{SEDE}/kpis?from=ayer")
    assert api.status_code == 400 and api.get_json()["error"]["code"] == "invalid_date"


def test_a_sedes_figures_default_to_its_own_today(app):
    from zoneinfo import ZoneInfo

    tokyo = add_sede(app.extensions["central_db"], "TYO-01", "Sede de prueba en Tokio")
    push(app, [ev(1)], sede="TYO-01", token=tokyo, timezone="Asia/Tokyo")
    figures = app.client.get("/api/v1/sedes/TYO-01/kpis").get_json()
    assert figures["to"] == datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()
