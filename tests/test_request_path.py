"""What an API request goes through, kept while its cost was cut: every rate limit is still checked
(by its view's decorator, without the limiter's pass before every request), a request without a
cookie gets an empty session and sets none, the security headers are written once and a view's own
are kept, and a ticket's place in its queue is counted as the call order says."""
from __future__ import annotations

import random

from conftest import error_code

from turnero import ordering
from turnero.web.auth import device_cookie
from turnero.web.limits import limiter


def test_the_limiter_adds_no_pass_before_every_request(app):
    hooks = app.before_request_funcs.get(None, [])
    assert limiter._check_request_limit not in hooks
    assert "limiter" in app.extensions  # bound: its after-request hook deducts and writes headers


def test_the_survey_limit_is_still_checked(app):
    client = app.test_client()
    statuses = [client.post("/api/v1/public/tickets/nadie/survey", json={"score": 5}).status_code
                for _ in range(21)]
    assert statuses[:20] == [404] * 20 and statuses[20] == 429


def test_the_pairing_limit_is_still_checked(app):
    client = app.test_client()
    statuses = [client.get("/pair?code=00000000&role=kiosk").status_code for _ in range(11)]
    assert 429 not in statuses[:10] and statuses[10] == 429


def test_the_kiosk_lookup_limit_is_still_checked_and_staff_are_exempt(app, tokens):
    client = app.test_client()
    limit = app.extensions["turnero"].settings.kiosk["lookups_per_minute"]
    kiosk = {"Authorization": f"Bearer {tokens['kiosk']}"}
    statuses = [client.get("/api/v1/appointments?document=12345678", headers=kiosk).status_code
                for _ in range(limit + 1)]
    assert statuses[:limit] == [200] * limit and statuses[limit] == 429
    assert error_code(client.get("/api/v1/appointments?document=12345678", headers=kiosk)) == "rate_limited"
    staff = {"Authorization": f"Bearer {tokens['ana']}"}
    assert client.get("/api/v1/appointments?document=12345678", headers=staff).status_code == 200


def test_a_limited_view_still_reports_its_budget(app, tokens):
    response = app.test_client().post("/api/v1/tickets", json={"service": "ORI"},
                                      headers={"Authorization": f"Bearer {tokens['kiosk']}"})
    assert response.status_code == 201
    limit = app.extensions["turnero"].settings.kiosk["rate_per_minute"]
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == str(limit - 1)


def test_a_bearer_request_without_a_cookie_sets_no_cookie(app, tokens):
    response = app.test_client().post("/api/v1/tickets", json={"service": "ORI"},
                                      headers={"Authorization": f"Bearer {tokens['ana']}"})
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


def test_the_console_session_still_works_and_is_kept(app, tokens):
    from conftest import PASSWORD

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": csrf})
    assert answer.status_code == 302
    # the session cookie alone authenticates the API (a read: no CSRF token needed)
    assert client.get("/api/v1/queue").status_code == 200
    assert client.post("/api/v1/tickets", json={"service": "ORI"}).status_code == 400  # CSRF still asked


def test_security_headers_are_written_once_and_a_views_own_are_kept(app, tokens):
    client = app.test_client()
    response = client.get("/api/v1/services", headers={"Authorization": f"Bearer {tokens['ana']}"})
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Permissions-Policy",
                 "Cross-Origin-Opener-Policy", "Content-Security-Policy", "Cache-Control"):
        assert len(response.headers.getlist(name)) == 1, name
    assert response.headers["Cache-Control"] == "no-store"
    public_id = client.post("/api/v1/tickets", json={"service": "ORI"},
                            headers={"Authorization": f"Bearer {tokens['kiosk']}"}).get_json()["public_id"]
    client.set_cookie(device_cookie("kiosk"), tokens["kiosk"])  # a paired kiosk's page
    qr = client.get(f"/kiosk/qr/{public_id}.svg")
    assert qr.status_code == 200
    assert qr.headers.getlist("Cache-Control") == ["private, max-age=3600"]  # its own, not the default
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"  # pages too, not only the API


def _general_position(conn, ticket, service, now):
    """ordering.position's rule counted over the whole queue (its path for every class)."""
    services = {service.code: service}
    tier_sql, tier_params = ordering._tier_sql(services, [service.code], now)
    first_sql = f"CASE WHEN ({tier_sql}) = {ordering.TIER_APPOINTMENT} THEN appointment_at ELSE queued_at END"
    return conn.execute(
        f"SELECT COUNT(*) FROM tickets WHERE status = 'waiting' AND service = ? AND id != ? AND"
        f" (({tier_sql}), ({first_sql}), queued_at, number) < (?, ?, ?, ?)",
        (service.code, ticket["id"], *tier_params, *tier_params,
         *ordering.sort_key(ticket, services, now))).fetchone()[0] + 1


def test_a_normal_tickets_place_is_the_one_the_whole_queue_gives(engine, clock):
    """A normal ticket's place is counted from the tickets queued after it (ordering.position):
    the same place as counted over the whole queue, with transfers (an older queue time),
    appointments in and out of their window, classes, and ties in time."""
    from datetime import datetime

    rng = random.Random(5)
    for index in range(5):
        engine.upsert_appointment({"id": f"p{index}", "service": "ORI", "status": "booked",
                                   "starts_at": f"2026-11-25T{9 + index // 2:02d}:{(index % 2) * 30:02d}:00-05:00"})
    appointments = [f"p{index}" for index in range(5)]
    engine.open_counter("v1", "ana")
    for _ in range(50):
        clock.advance(rng.choice([0, 0, 1, 20]))
        roll = rng.random()
        if appointments and roll < 0.15:
            engine.issue(None, appointment=appointments.pop())
        elif roll < 0.25:  # a PEN ticket called and sent to ORI: it keeps its first queue time
            issued, _ = engine.issue("PEN", channel="staff")
            called = engine.call(issued["id"], "v1", "ana")
            engine.transfer(called["id"], "ORI", "ana")
        else:
            engine.issue("ORI", priority=rng.choice([None, None, None, "gestante", "urgente"]), channel="staff")
    conn = engine.store.connect()
    service = engine.settings.services["ORI"]
    checked = 0
    for moment in ("09:00", "10:00", "10:20", "11:40"):
        clock.set(datetime.fromisoformat(f"2026-11-25T{moment}:00-05:00"))
        now = engine.clock()
        rows = conn.execute("SELECT * FROM tickets WHERE status = 'waiting' AND service = 'ORI'").fetchall()
        for row in rows:
            assert ordering.position(conn, row, service, now) == _general_position(conn, row, service, now)
            checked += ordering.tier(row, engine.settings.services, now) == ordering.TIER_NORMAL
        listed = engine.queue("ORI")
        assert [engine.get_ticket(t["id"])["position"] for t in listed] == list(range(1, len(listed) + 1))
    assert checked > 40  # the normal tickets (the counted path) were most of them


def test_a_released_connection_is_taken_by_the_next_and_never_inside_a_transaction(tmp_path):
    import sqlite3
    import threading

    from turnero.store import FREE_CONNECTIONS, Store

    store = Store(tmp_path / "t.db")
    first = store.connect()
    store.release()
    taken = []
    thread = threading.Thread(target=lambda: taken.append(store.connect()))
    thread.start()
    thread.join()
    assert taken == [first]  # reused by another thread (a greenlet, under gevent)

    busy = store.connect()
    busy.execute("BEGIN")
    store.release()  # inside a transaction: closed, never handed on
    assert store.connect() is not busy
    store.release()

    # Released at once by more threads than are kept: the extra ones are closed.
    opened, barrier = [], threading.Barrier(FREE_CONNECTIONS + 3)

    def hold_then_release():
        opened.append(store.connect())
        barrier.wait()
        store.release()

    threads = [threading.Thread(target=hold_then_release) for _ in range(FREE_CONNECTIONS + 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def closed(conn) -> bool:
        try:
            conn.execute("SELECT 1")
            return False
        except sqlite3.ProgrammingError:
            return True

    assert len({id(conn) for conn in opened}) == FREE_CONNECTIONS + 3
    assert sum(closed(conn) for conn in opened) == 3
    store.close()
