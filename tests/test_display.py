"""The hall display in a real Chromium against a real box: order, bursts, recalls, filters,
privacy of what reaches the browser, sound, and surviving a box restart."""
from __future__ import annotations

import re
import threading

import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from conftest import LiveBox, screenshot, write_sede
from test_display_support import (announcements, call_next, call_ticket, free_counters, issue, last_seq,
                                  open_display, shown, wait_announced, wait_shown)


@pytest.fixture
def box(live_box):
    free_counters(live_box)
    yield live_box
    free_counters(live_box)


def test_display_needs_a_paired_display_device(box, page):
    response = page.goto(f"{box.url}/display")
    assert response.status == 401
    assert page.get_by_text("Este equipo no está vinculado").is_visible()
    response = page.goto(f"{box.url}/display?device_token={box.tokens['kiosco-1']}")
    assert response.status == 401  # a kiosk token does not pair a display


def test_first_load_shows_history_without_announcing_it(box, browser):
    issue(box)
    old = call_next(box, "v1")
    page = open_display(browser, box)
    try:
        page.wait_for_selector(f"#current .call-code:text-is('{old['code']}')")
        assert announcements(page) == []
        assert page.locator("#current .call-counter").inner_text() == "Ventanilla 1"
        assert page.locator(".sede-name").inner_text() == "Sede de prueba"
        assert re.fullmatch(r"\d\d:\d\d", page.locator("#clock").inner_text())
        assert page.locator("#offline").is_hidden()
        assert page.locator("#current .call-big.is-new").count() == 0  # history is not "new"
    finally:
        page.context.close()


def test_calls_burst_and_recalls_appear_and_are_announced_in_order(box, browser):
    page = open_display(browser, box)
    try:
        start = last_seq(box)
        tickets = [issue(box), issue(box, priority="adulto_mayor"), issue(box, "VIC")]
        # A burst: three counters call within the same instant.
        threads = [threading.Thread(target=call_next, args=(box, counter)) for counter in ("v1", "v2")]
        threads.append(threading.Thread(target=call_ticket, args=(box, tickets[2]["id"], "c1")))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        recall = box.call("POST", "/counters/v1/recall", "ana")
        assert recall.status_code == 200
        events = box.call("GET", f"/events?after={start}").json()["events"]
        calls = [event for event in events if event["type"] in ("ticket.called", "ticket.recalled")]
        assert len(calls) == 4
        wait_shown(page, calls[-1]["seq"])
        assert [item["seq"] for item in shown(page) if item["seq"] > start] == [event["seq"] for event in calls]
        for event in calls:
            wait_announced(page, event["seq"])
        said = announcements(page)
        assert [item["seq"] for item in said] == [event["seq"] for event in calls]
        assert [item["recall"] for item in said] == [False, False, False, True]

        # Newest large, the others listed below: nothing replaced unseen. The recalled ticket is
        # the current call, marked as a recall, and not listed a second time.
        newest = calls[-1]["data"]["ticket"]
        assert page.locator("#current .call-code").inner_text() == newest["code"]
        assert page.locator("#current .call-big.is-new").count() == 1  # highlighted for a few seconds
        assert page.locator("#current .badge-recall").is_visible()
        listed = page.locator("#previous .row-code").all_inner_texts()
        assert newest["code"] not in listed
        assert len(listed) == len(set(listed))
        assert {event["data"]["ticket"]["code"] for event in calls} - {newest["code"]} <= set(listed)
        preferential = [event["data"]["ticket"]["code"] for event in calls[:3]
                        if event["data"]["ticket"]["priority"] == "adulto_mayor"]
        assert preferential
        where = page.locator("#current") if preferential[0] == newest["code"] else \
            page.locator(f"#previous tr[data-code='{preferential[0]}']")
        assert where.locator(".badge-preferential").count() == 1
        # The discreet service shows its neutral label only when it is the newest; never its name.
        assert "víctimas" not in page.content()
        screenshot(page, "display-burst")
    finally:
        page.context.close()


def test_filtered_display_sees_only_its_services(box, browser):
    everything = open_display(browser, box)
    victims = open_display(browser, box, device="pantalla-vic")
    try:
        ori = issue(box)
        vic = issue(box, "VIC")
        ori_called = call_ticket(box, ori["id"], "v1")
        vic_called = call_ticket(box, vic["id"], "c1")
        events = box.call("GET", f"/events?after={last_seq(box) - 2}").json()["events"]
        ori_seq, vic_seq = events[0]["seq"], events[1]["seq"]
        assert events[1]["data"]["ticket"]["code"] == vic_called["code"]
        wait_shown(everything, vic_seq)
        wait_shown(victims, vic_seq)
        codes_all = [item["code"] for item in shown(everything)]
        codes_vic = [item["code"] for item in shown(victims)]
        assert ori_called["code"] in codes_all and vic_called["code"] in codes_all
        assert codes_vic[-1] == vic_called["code"]
        assert all(code.startswith("V-") for code in codes_vic)
        assert ori_seq not in [item["seq"] for item in shown(victims)]
        assert victims.locator("#current .call-service").inner_text() == "Atención reservada"
    finally:
        everything.context.close()
        victims.context.close()


def test_a_lost_push_is_recovered_from_the_gap_in_seq(box, browser):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima")
    page = context.new_page()
    dropped = []

    def lose_one_call(ws):
        server = ws.connect_to_server()

        def from_server(message):
            if not dropped and isinstance(message, str) and '"ticket.called"' in message:
                dropped.append(message)  # this push never reaches the page
                return
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket("**/socket.io/**", lose_one_call)
    page.goto(f"{box.url}/display?device_token={box.tokens['pantalla-1']}&audio=0")
    page.wait_for_function("window.turneroDisplay && window.turneroDisplay.state.online"
                           " && window.turneroDisplay.state.cursor !== null")
    try:
        issue(box)
        lost = call_next(box, "v1")
        lost_seq = last_seq(box)
        try:
            page.wait_for_function(f"window.turneroDisplay.state.expected >= {lost_seq - 1}")
        except PlaywrightTimeout:  # say what the page knew: a reconnect's catch-up moves the cursor only
            raise AssertionError(f"the push of seq {lost_seq - 1} never came; lost seq {lost_seq}, dropped "
                                 f"{len(dropped)}; page: " + page.evaluate(
                                     "JSON.stringify({state: window.turneroDisplay.state, catchUps:"
                                     " window.turneroDisplay.catchUps, socket: window.turneroDisplay.socket.id})"))
        assert dropped and lost["code"] in dropped[0]
        assert lost_seq not in [item["seq"] for item in shown(page)]
        issue(box)  # the next push shows the page a gap, and it fetches what it missed
        wait_shown(page, lost_seq)
        wait_announced(page, lost_seq)
        assert page.locator("#current .call-code").inner_text() == lost["code"]
        assert [item["seq"] for item in announcements(page)].count(lost_seq) == 1
    finally:
        context.close()


def test_no_personal_data_reaches_the_display(box, browser):
    context = browser.new_context(locale="es-PE", timezone_id="America/Lima")
    frames, bodies = [], []
    page = context.new_page()
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))

    def keep_body(route):
        response = route.fetch()
        bodies.append(response.text())
        route.fulfill(response=response)

    page.route("**/api/v1/**", keep_body)
    page.goto(f"{box.url}/display?device_token={box.tokens['pantalla-1']}")
    page.wait_for_function("window.turneroDisplay && window.turneroDisplay.state.online")
    try:
        ticket = issue(box, document={"type": "DNI", "number": "40718372"}, name="Rosa Quispe Mamani")
        called = call_ticket(box, ticket["id"], "v1")
        finished = box.call("POST", f"/tickets/{called['id']}/start", "ana")
        assert finished.status_code == 200
        done = box.call("POST", f"/tickets/{called['id']}/finish", "ana",
                        json={"outcome": "resolved", "notes": "Caso de violencia familiar", "case_ref": "EXP-99"})
        assert done.status_code == 200
        seq = last_seq(box)
        page.wait_for_function(f"window.turneroDisplay.state.cursor >= {seq}")
        page.reload()  # the start-up requests (events, board) are captured too
        page.wait_for_function(f"window.turneroDisplay.state.cursor >= {seq}")
        received = "\n".join(frames + bodies)
        assert called["code"] in received  # what a display needs did arrive
        assert "ticket.finished" in received
        for secret in ("40718372", "Rosa", "Quispe", "violencia", "EXP-99", '"staff":', '"document":',
                       '"notes":', '"case_ref":'):
            assert secret not in received, secret
    finally:
        context.close()


def test_voice_is_fetched_and_played_after_the_chime(box, browser):
    page = open_display(browser, box, audio=True)
    wavs = []
    page.on("response", lambda response: wavs.append((response.url, response.status, response.headers.get(
        "content-type"))) if response.url.endswith(".wav") else None)
    try:
        issue(box)
        called = call_next(box, "v2")
        seq = last_seq(box)
        wait_announced(page, seq)
        record = announcements(page)[-1]
        assert record["code"] == called["code"]
        assert record["status"] == "ready"
        assert record["played"][0].startswith("chime:")
        assert record["played"][1].startswith("es:")
        # Media elements fetch with Range requests: 206 is a successful answer here.
        assert any(url.endswith("/display/voice/chime.wav") and status in (200, 206) for url, status, _ in wavs)
        phrase = [item for item in wavs if "chime" not in item[0]]
        assert phrase and phrase[0][1] in (200, 206) and phrase[0][2] == "audio/wav"
        announcement = box.call("GET", f"/announcements/{seq}", "pantalla-1").json()
        assert announcement["parts"][0]["text"] == f"Turno {_spoken(called['code'])}, Ventanilla 2."
    finally:
        page.context.close()


def _spoken(code: str) -> str:
    digits = {"0": "cero", "1": "uno", "2": "dos", "3": "tres", "4": "cuatro", "5": "cinco", "6": "seis",
              "7": "siete", "8": "ocho", "9": "nueve"}
    return " ".join(digits.get(char, char.lower()) for char in code if char != "-")


@pytest.fixture
def own_box(tmp_path):
    made = []

    def start(env=None, port=None):
        if not made:
            write_sede(tmp_path / "data")
        live = LiveBox(tmp_path / "data", port=port, env=env)
        if not made:
            live.prepare(devices=(("pantalla-1", "display", []),))
        else:
            live.tokens = dict(made[-1].tokens)
        made.append(live.start())
        return live

    yield start
    for live in made:
        live.stop()


def test_display_survives_a_box_restart_without_repeating_announcements(own_box, browser):
    first = own_box(env={"TURNERO_DISPLAY_MESSAGE": "Bienvenidos a la sede"})
    free_counters(first)
    page = open_display(browser, first)
    try:
        assert page.locator("#message").inner_text() == "Bienvenidos a la sede"
        issue(first)
        issue(first)
        before = call_next(first, "v1")
        seq_before = last_seq(first)
        wait_announced(page, seq_before)

        catch_ups = page.evaluate("window.turneroDisplay.catchUps")
        first.kill()
        page.wait_for_selector("#offline", state="visible")
        second = own_box(port=first.port)
        # Called at once, most likely before the page reconnects: it then arrives through the
        # catch-up on connect, else live; either way exactly once.
        free_counters(second)
        after = call_next(second, "v1")
        seq_after = last_seq(second)
        page.wait_for_selector("#offline", state="hidden", timeout=20000)
        wait_announced(page, seq_after)
        assert page.evaluate("window.turneroDisplay.catchUps") > catch_ups
        said = [item["seq"] for item in announcements(page)]
        assert said.count(seq_before) == 1 and said.count(seq_after) == 1
        assert said.index(seq_before) < said.index(seq_after)
        assert page.locator("#current .call-code").inner_text() == after["code"]
        assert before["code"] in page.locator("#previous").inner_text()

        # Reloading the page does not say anything again either.
        page.reload()
        page.wait_for_function("window.turneroDisplay && window.turneroDisplay.state.online")
        page.wait_for_function(f"window.turneroDisplay.state.cursor >= {seq_after}")
        assert announcements(page) == []
        assert page.locator("#current .call-code").inner_text() == after["code"]
    finally:
        page.context.close()


def test_a_hung_synthesis_is_killed_and_the_call_still_shown(own_box, browser):
    hang = "python3 -c 'import sys; sys.stdin.readline(); sys.stdin.read()'"  # takes a phrase, never answers
    live = own_box(env={"TURNERO_VOICE_WORKER_COMMAND": hang, "TURNERO_VOICE_TIMEOUT_SECONDS": "1"})
    page = open_display(browser, live, audio=True)
    try:
        issue(live)
        called = call_next(live, "v1")
        seq = last_seq(live)
        wait_shown(page, seq)
        assert page.locator("#current .call-code").inner_text() == called["code"]
        wait_announced(page, seq)
        record = announcements(page)[-1]
        assert record["status"] == "failed"
        assert record["played"][0].startswith("chime:")
        health = requests.get(live.url + "/healthz", timeout=5).json()
        assert health["status"] == "degraded"
        assert health["voice"]["status"] == "error"
        assert health["voice"]["worker_kills"] >= 1
        assert "killed" in health["voice"]["detail"]
        log = (live.data_dir / "server.log").read_text()
        assert called["code"] in log  # the failure is logged with the call it concerns
    finally:
        page.context.close()
