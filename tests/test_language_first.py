"""Service in the citizen's language (issue #13): "Primero en mis idiomas" per counter.

A defender who attends in Quechua may have the counter call, within the tier call-next would take
anyway, the oldest ticket in one of their languages first; no ticket that has waited
``[console] language_first_max_hold_minutes`` is ever passed over for it (turnero/ordering.py).
The console's list stays call-next's order, and a defender with no languages sees no change.
"""
import random
import sqlite3

import pytest
from playwright.sync_api import expect

from config import load_settings
from tests.conftest import add_users_fast, error_code, screenshot, wait_for
from tests.test_console_tools import cancel, row_codes
from tests.test_counter_day import open_counter, staff_page
from tests.test_counter_queue import CLASSES, make_engine, serve
from turnero import audit, ordering
from turnero.accounts import Accounts

HOLD = 10 * 60  # the default bound, in seconds
LANGUAGES = ["es", "es", "qu", "en"]


# ---------------------------------------------------------------------- the rule itself


def random_queue(rng, services, now):
    tickets = []
    for number in range(1, rng.randint(1, 30)):
        service = rng.choice(list(services))
        appointment = None
        if rng.random() < 0.15:
            appointment = now + rng.choice([-40, -5, 0, 5, 40]) * 60
        tickets.append({"id": f"t{number}", "service": service, "number": number, "status": "waiting",
                        "priority": rng.choice(CLASSES), "appointment_at": appointment,
                        "queued_at": now - rng.randint(0, 25) * 60 - rng.random(),
                        "language": rng.choice(LANGUAGES)})
    return tickets


def sql_pick(tickets, services, now, streak, limit, mine, hold):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE tickets (id TEXT, service TEXT, number INTEGER, status TEXT, priority TEXT,"
                 " appointment_at REAL, queued_at REAL, language TEXT)")
    conn.executemany("INSERT INTO tickets VALUES (:id, :service, :number, :status, :priority, :appointment_at,"
                     " :queued_at, :language)", tickets)
    return ordering.next_waiting(conn, services, sorted({t["service"] for t in tickets}) or ["ORI"], now,
                                 streak, limit, mine, hold)


def passed_over(remaining, pick, services, now, streak, limit):
    """The tickets the plain rules would have called before ``pick`` (its tier's head and the ones after it)."""
    plain = ordering.pick_next(remaining, services, now, streak, limit)
    rank = ordering.tier(plain, services, now)
    same = [t for t in ordering.queue_order(remaining, services, now) if ordering.tier(t, services, now) == rank]
    return same[:same.index(pick)]


@pytest.mark.parametrize("seed", range(6))
def test_the_rule_over_random_queues(data_dir, seed):
    """A few hundred queues of several services, classes, appointments and languages: tiers keep
    their precedence, my languages go first inside a tier, nobody who has waited the bound is passed
    over, the SQL choice is the Python one, and the list is the sequence of picks."""
    services = load_settings(data_dir, {}).services
    rng = random.Random(seed)
    now = 1_800_000_000.0
    for case in range(60):
        tickets = random_queue(rng, {code: services[code] for code in ("ORI", "PEN", "CON")}, now)
        mine = rng.choice([("qu",), ("qu", "en"), ("en",)])
        limit, streak = rng.choice([0, 0, 1, 2]), rng.randint(0, 2)
        listed = ordering.call_order(tickets, services, now, streak, limit, mine, HOLD)
        assert ordering.call_order(tickets, services, now, streak, limit, (), HOLD) == \
            ordering.call_order(tickets, services, now, streak, limit), "no languages: the plain order"
        remaining, picks = list(tickets), []
        while remaining:
            pick = ordering.pick_next(remaining, services, now, streak, limit, mine, HOLD)
            if len(picks) == 0:
                chosen = sql_pick(remaining, services, now, streak, limit, mine, HOLD)
                assert chosen == pick["id"], (seed, case)
            plain = ordering.pick_next(remaining, services, now, streak, limit)
            rank = ordering.tier(pick, services, now)
            assert rank == ordering.tier(plain, services, now), "the rule never crosses tiers"
            skipped = passed_over(remaining, pick, services, now, streak, limit)
            assert all(now - t["queued_at"] < HOLD for t in skipped), "nobody waited the bound is passed over"
            assert all(t["language"] not in mine for t in skipped), "my languages first within the tier"
            if pick["language"] not in mine and now - pick["queued_at"] < HOLD:
                assert pick is plain  # nothing favoured in the tier: its head
            picks.append(pick)
            remaining.remove(pick)
            streak = streak + 1 if ordering.is_preferential(pick["priority"]) else 0
        assert [t["id"] for t in listed] == [t["id"] for t in picks], (seed, case)


# ---------------------------------------------------------------------- the engine and its clock


def speaking(engine, **languages):
    add_users_fast(engine.store, {"ana": "staff", "beto": "staff"})
    for name, codes in languages.items():
        Accounts(engine.store).set_languages(name, codes, engine.settings.sede["languages"])


def waiting_rows(engine):
    return engine.store.read("SELECT * FROM tickets WHERE status = 'waiting' AND service IN ('ORI', 'PEN')")


def streak_of(engine, counter):
    return engine.store.read_one("SELECT preferential_streak FROM counter_state WHERE counter = ?",
                                 (counter,))[0]


@pytest.mark.parametrize("seed", range(4))
def test_call_next_with_the_clock_moving(tmp_path, clock, seed):
    """Arrivals in three languages while the clock moves past the bound: every call-next is the
    list's first row, takes the plain tier, passes over nobody who waited the bound, and with
    nothing happening the list is the sequence of calls."""
    rng = random.Random(100 + seed)
    engine = make_engine(tmp_path, clock, seed % 3)
    speaking(engine, ana=["qu"])
    engine.open_counter("v1", "ana")
    engine.set_language_first("v1", "ana", True)
    limit = engine.settings.sede["preferential_streak"]

    def arrive(count):
        for _ in range(count):
            clock.advance(rng.choice([0, 20, 60, 240]))
            engine.issue(rng.choice(["ORI", "PEN"]), channel="staff", priority=rng.choice(CLASSES),
                         language=rng.choice(LANGUAGES))

    arrive(30)
    snapshot = [t["id"] for t in engine.counter_queue("v1")["tickets"]]
    called = []
    for _ in range(10):
        ticket = engine.call_next("v1", "ana")
        called.append(ticket["id"])
        serve(engine, ticket, "ana")
    assert called == snapshot[:10]

    calls = 0
    while True:
        now = clock()
        rows, streak = waiting_rows(engine), streak_of(engine, "v1")
        listed = engine.counter_queue("v1")["tickets"]
        ticket = engine.call_next("v1", "ana")
        if ticket is None:
            assert listed == [] and rows == []
            break
        assert ticket["id"] == listed[0]["id"], (seed, calls)
        pick = next(row for row in rows if row["id"] == ticket["id"])
        plain = ordering.pick_next(rows, engine.settings.services, now, streak, limit)
        assert ordering.tier(pick, engine.settings.services, now) == ordering.tier(plain, engine.settings.services, now)
        skipped = passed_over(rows, pick, engine.settings.services, now, streak, limit)
        assert all(now - row["queued_at"] < HOLD for row in skipped), (seed, calls)
        assert all(row["language"] != "qu" for row in skipped)
        calls += 1
        clock.advance(rng.choice([30, 120, 300, 700]))  # service times, some past the bound
        serve(engine, ticket, "ana")
        if rng.random() < 0.4:
            arrive(rng.randint(1, 3))
    assert calls > 20


def test_the_bound_lets_the_oldest_through(engine, clock):
    """Quechua tickets keep arriving; the Spanish one waits at most the bound, then is called."""
    speaking(engine, ana=["qu"])
    spanish = engine.issue("ORI")[0]
    engine.open_counter("v1", "ana")
    engine.set_language_first("v1", "ana", True)
    order = []
    for _ in range(6):
        clock.advance(1)
        engine.issue("ORI", language="qu")
        ticket = engine.call_next("v1", "ana")
        order.append(ticket["code"])
        clock.advance(3 * 60)  # each attention takes three minutes
        serve(engine, ticket, "ana")
    # At 0, 3, 6 and 9 minutes A-001 has waited less than ten: the Quechua ones go first.
    assert order[:4] == ["A-002", "A-003", "A-004", "A-005"]
    assert order[4] == spanish["code"]  # waited 12 minutes: never passed over again


def test_a_defender_with_no_languages_sees_no_change(tmp_path, clock):
    rng = random.Random(7)
    engines = {}
    for name, languages in (("plain", None), ("none", [])):
        engine = make_engine(tmp_path / name, clock, 1)
        speaking(engine, **({"ana": languages} if languages is not None else {}))
        engine.open_counter("v1", "ana")
        if languages is not None:
            engine.set_language_first("v1", "ana", True)
        engines[name] = engine
    start = clock()
    for name, engine in engines.items():
        clock.value, rng = start, random.Random(7)
        for _ in range(25):
            clock.advance(rng.choice([0, 30, 90]))
            engine.issue(rng.choice(["ORI", "PEN"]), priority=rng.choice(CLASSES), channel="staff",
                         language=rng.choice(LANGUAGES))
    lists = {name: [t["code"] for t in engine.counter_queue("v1")["tickets"]] for name, engine in engines.items()}
    assert lists["plain"] == lists["none"]
    calls = {name: [engine.call_next("v1", "ana")["code"]] for name, engine in engines.items()}
    assert calls["plain"] == calls["none"]


def test_the_toggle_survives_a_new_holder_but_needs_their_languages(engine, clock):
    speaking(engine, ana=["qu"])
    engine.issue("ORI")
    clock.advance(1)
    engine.issue("ORI", language="qu")
    engine.open_counter("v1", "ana")
    engine.set_language_first("v1", "ana", True)
    assert [t["code"] for t in engine.counter_queue("v1")["tickets"]] == ["A-002", "A-001"]
    engine.close_counter("v1", "ana")
    engine.open_counter("v1", "beto")  # Spanish only: the plain order
    assert engine.counter_view(engine.store.connect(), "v1")["language_first"] is True
    assert [t["code"] for t in engine.counter_queue("v1")["tickets"]] == ["A-001", "A-002"]


# ---------------------------------------------------------------------- the API


def put(client, path, token, body):
    return client.put(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"})


def test_setting_languages_is_validated_and_audited(app, tokens):
    client = app.test_client()
    box = app.extensions["turnero"]
    answer = put(client, "/users/beto/languages", tokens["root"], {"languages": ["qu", "xx"]})
    assert answer.status_code == 422 and error_code(answer) == "invalid_language"
    answer = put(client, "/users/beto/languages", tokens["root"], {"languages": ["ay"]})  # not of this sede
    assert answer.status_code == 422 and error_code(answer) == "invalid_language"
    assert put(client, "/users/nadie/languages", tokens["root"], {"languages": []}).status_code == 404
    assert put(client, "/users/beto/languages", tokens["ana"], {"languages": ["qu"]}).status_code == 403
    answer = put(client, "/users/beto/languages", tokens["root"], {"languages": ["qu", "en"]})
    assert answer.status_code == 200 and answer.json["user"] == {"username": "beto", "languages": ["en", "qu"]}
    entry = audit.entries(box.store, 1)[0]
    assert (entry["actor"], entry["action"]) == ("root", "PUT /api/v1/users/beto/languages")
    assert {u["username"]: u["languages"] for u in box.accounts.users()}["beto"] == ["en", "qu"]
    assert box.accounts.authenticate(tokens["beto"], box.engine.clock())["languages"] == ["en", "qu"]


def test_bad_bodies_and_unknown_names_are_refused_plainly(app, tokens):
    """Not a list, a list of non-codes, a non-boolean toggle, an unknown counter: 4xx, never a 500,
    and nothing stored."""
    client = app.test_client()
    box = app.extensions["turnero"]
    answer = put(client, "/users/beto/languages", tokens["root"], {"languages": "qu"})
    assert answer.status_code == 400 and error_code(answer) == "invalid_type"
    for bad in ([["qu"]], [{"code": "qu"}], [5], [None]):
        answer = put(client, "/users/beto/languages", tokens["root"], {"languages": bad})
        assert answer.status_code == 422 and error_code(answer) == "invalid_language", bad
    assert box.accounts.languages("beto") == []
    for bad in ("yes", 1, None):
        answer = put(client, "/counters/v1/language-first", tokens["sofia"], {"enabled": bad})
        assert answer.status_code in (400, 422) and error_code(answer) in ("invalid_type", "missing_field"), bad
    answer = put(client, "/counters/nada/language-first", tokens["sofia"], {"enabled": True})
    assert answer.status_code == 404 and error_code(answer) == "unknown_counter"
    assert not [e for e in box.engine.events_after(0) if e["type"] == "counter.language_first_changed"]


def test_the_toggle_is_the_holders_or_a_supervisors(app, tokens):
    client = app.test_client()
    box = app.extensions["turnero"]
    assert client.put("/api/v1/counters/v1/language-first", json={"enabled": True}).status_code == 401
    assert put(client, "/counters/v1/language-first", tokens["kiosk"], {"enabled": True}).status_code == 403
    assert error_code(put(client, "/counters/v1/language-first", tokens["ana"], {"enabled": True})) == \
        "counter_closed"
    assert client.post("/api/v1/counters/v1/open", headers={"Authorization": f"Bearer {tokens['ana']}"}).status_code == 200
    answer = put(client, "/counters/v1/language-first", tokens["beto"], {"enabled": True})
    assert answer.status_code == 409 and error_code(answer) == "counter_taken"
    answer = put(client, "/counters/v1/language-first", tokens["ana"], {})
    assert answer.status_code == 422 and error_code(answer) == "missing_field"
    answer = put(client, "/counters/v1/language-first", tokens["ana"], {"enabled": True})
    assert answer.status_code == 200 and answer.json["counter"]["language_first"] is True
    answer = put(client, "/counters/v1/language-first", tokens["sofia"], {"enabled": False})
    assert answer.status_code == 200 and answer.json["counter"]["language_first"] is False
    changed = [e for e in box.engine.events_after(0) if e["type"] == "counter.language_first_changed"]
    assert [(e["data"]["by"], e["data"]["counter"]["language_first"]) for e in changed] == \
        [("ana", True), ("sofia", False)]
    listed = client.get("/api/v1/counters", headers={"Authorization": f"Bearer {tokens['beto']}"}).json
    assert {c["id"]: c["language_first"] for c in listed["counters"]}["v1"] is False


# ---------------------------------------------------------------------- the console


def test_the_console_toggle_reorders_the_list(browser, live_box):
    box = live_box
    box.release("v1")
    assert box.call("PUT", "/users/ana/languages", "root", json={"languages": ["qu"]}).status_code == 200
    ana = None
    tickets = []
    try:
        tickets = [box.call("POST", "/tickets", "kiosco-1", json={"service": "ORI", "language": language}).json()
                   for language in ("es", "qu")]
        spanish, quechua = (ticket["code"] for ticket in tickets)
        ana = staff_page(browser, box, "ana", "/counter", viewport={"width": 1366, "height": 768})
        open_counter(ana, "v1")
        expect(ana.locator("#language-first-line")).to_be_visible()
        expect(ana.locator("#my-languages")).to_have_text("Quechua")
        expect(ana.locator(f"#waiting-body tr[data-code='{quechua}'] .language-cell")).to_have_text("Quechua")
        assert wait_for(lambda: quechua in row_codes(ana))
        codes = row_codes(ana)
        assert codes.index(spanish) < codes.index(quechua)
        ana.check("#language-first")
        assert wait_for(lambda: row_codes(ana).index(quechua) < row_codes(ana).index(spanish))
        assert box.call("GET", "/counters/v1/queue").json()["tickets"][0]["code"] == row_codes(ana)[0]
        screenshot(ana, "language-first-console")
        ana.uncheck("#language-first")
        assert wait_for(lambda: row_codes(ana).index(spanish) < row_codes(ana).index(quechua))
    finally:
        box.call("PUT", "/counters/v1/language-first", "sofia", json={"enabled": False})
        box.call("PUT", "/users/ana/languages", "root", json={"languages": []})
        cancel(box, *tickets)
        box.release("v1")
        if ana is not None:
            ana.context.close()
