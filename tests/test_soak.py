"""Soak: a busy day at a sede compressed into a couple of minutes, with faults on the way.

A real box (``turnero run``), a real central receiver (``turnero-central run``, its own process),
a real TCP ESC/POS printer endpoint, a kiosk issuing 1,100 tickets over HTTP with idempotency keys,
twelve clerks at twelve counters (call next, recall, start, finish with notes, no-shows, returns,
transfers, walk-ins registered with a name) and three hall displays over Socket.IO. Meanwhile the
box is killed with SIGKILL twice and restarted on the same data directory and port, the printer
runs out of paper and gets it back, and the central receiver is killed and restarted later.

At the end nothing a citizen or an officer did is lost or doubled: every acknowledged ticket exists
once, numbers and ``seq`` have no gap, each closed attention is recorded once, no ticket was held by
two counters, the central side holds exactly the box's events, the displays got every call and no
personal data, and every slip was printed.

Select it alone with ``-k soak``. It asserts nothing about time.
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections import Counter, defaultdict

import requests
from central.kpis import BUCKET_SECONDS
from conftest import LiveBox, free_port, write_sede
from escpos_capture import CaptureServer, qr_payloads
from soak_support import CentralProcess, Clerk, Display, Kiosk, keys_anywhere, wait_until

SEDE = "SOAK-01"
TICKETS = 1100
# service code -> (prefix, share of the kiosk's tickets)
SERVICES = {"ORI": ("A", 35), "PEN": ("B", 20), "VIC": ("V", 10), "CON": ("C", 12), "PSI": ("P", 10),
            "SOC": ("S", 13)}
COUNTERS = {
    "v1": ["ORI", "PEN"], "v2": ["ORI", "PEN"], "v3": ["ORI", "PEN"], "v4": ["ORI", "SOC"],
    "v5": ["ORI", "CON"], "v6": ["PEN", "CON"], "v7": ["PEN", "VIC"], "c1": ["VIC", "PSI"],
    "v8": ["CON", "SOC"], "c2": ["PSI", "SOC"], "v9": ["ORI", "SOC", "PSI"], "v10": ["PEN", "CON", "ORI"],
}
CLERKS = {f"clerk{i}": "staff" for i in range(len(COUNTERS))}
# What the hall must never receive (turnero/audiences.py); a person's name is checked by its value
# below ("Persona Soak"), since a counter's name ("Ventanilla v1") is the hall's business.
PERSONAL_KEYS = {"document", "notes", "case_ref", "staff", "public_id", "priority", "by", "reason", "pause_reason"}
KILLS = 2


def soak_toml(printer_port: int, central_url: str, token: str) -> str:
    services = "".join(
        f'\n[[services]]\ncode = "{code}"\nprefix = "{prefix}"\nnames = {{ es = "Servicio {code}" }}\n'
        + ('discreet = true\nneutral_label = { es = "Atención reservada" }\n' if code == "VIC" else "")
        + ('result_codes = { "PEN-01" = "Patrocinio asumido", "PEN-02" = "Orientación brindada" }\n'
           if code == "PEN" else "")
        for code, (prefix, _) in SERVICES.items())
    counters = "".join(f'\n[[counters]]\nid = "{cid}"\nname = "Ventanilla {cid}"\nservices = {json.dumps(codes)}\n'
                       for cid, codes in COUNTERS.items())
    return f"""
[sede]
code = "{SEDE}"
name = "Sede de carga"
timezone = "America/Lima"
public_base_url = "http://turnero.test"
languages = ["es", "qu"]
{services}{counters}
[printer]
type = "network"
host = "127.0.0.1"
port = {printer_port}
timeout_seconds = 2

[voice]
enabled = false

[kiosk]
rate_per_minute = 6000

[sync]
central_url = "{central_url}"
token = "{token}"
interval_seconds = 1
batch_size = 100
timeout_seconds = 3
backoff_base_seconds = 0.05
"""


def healthz(box) -> dict:
    return requests.get(box.url + "/healthz", timeout=10).json()


def all_events(box, token_name: str) -> list[dict]:
    events, after = [], 0
    while True:
        page = box.call("GET", f"/events?after={after}&limit=1000", token_name).json()["events"]
        events += page
        if len(page) < 1000:
            return events
        after = page[-1]["seq"]


def test_soak_busy_day_with_kills_paper_out_and_central_down(tmp_path):
    printer = CaptureServer()
    central = CentralProcess(tmp_path, free_port())
    token = central.add_sede(SEDE, "Sede de carga")
    data_dir = write_sede(tmp_path / "box", soak_toml(printer.port, central.url, token))
    box = LiveBox(data_dir).prepare(
        users={"sofia": "supervisor", **CLERKS},
        devices=(("kiosco-1", "kiosk", []), ("pantalla-1", "display", []), ("pantalla-2", "display", []),
                 ("pantalla-vic", "display", ["VIC"])))
    stop = threading.Event()
    displays, threads = [], []
    try:
        central.start()
        box.start()
        displays = [Display(box.url, box.tokens["pantalla-1"], "pantalla-1", filtered=False).start(),
                    Display(box.url, box.tokens["pantalla-2"], "pantalla-2", filtered=False,
                            transports=("polling", "websocket")).start(),
                    Display(box.url, box.tokens["pantalla-vic"], "pantalla-vic", filtered=True).start()]
        kiosk = Kiosk(box.url, box.tokens["kiosco-1"], TICKETS, {code: share for code, (_, share) in SERVICES.items()},
                      stop)
        clerks = [Clerk(i, box.url, box.tokens[f"clerk{i}"], cid, codes, list(SERVICES), kiosk.done, stop)
                  for i, (cid, codes) in enumerate(COUNTERS.items())]
        kiosk.start()
        threads = [clerk.thread() for clerk in clerks]
        for thread in threads:
            thread.start()

        def reached(n: int):
            wait_until(lambda: kiosk.issued >= n or kiosk.done.is_set(), 240, f"{n} tickets issued")

        # ---- the faults, paced on the kiosk's progress (not on the clock)
        reached(120)
        printer.mode = "paper_out"
        wait_until(lambda: healthz(box)["printer"]["detail"] == "paper_out", 60, "the box to see paper out")
        reached(230)
        printer.mode = "online"

        reached(330)
        box.kill(9)  # kill 1: mid-load, the whole process group
        box.start()

        reached(450)
        central.kill()  # the central receiver goes down (SIGKILL, mid-batch perhaps)
        wait_until(lambda: healthz(box)["sync"]["state"] == "retrying", 60, "sync retrying")

        reached(650)
        box.kill(9)  # kill 2, while the central side is still down: the backlog survives the restart
        box.start()

        reached(800)
        central.start()

        kiosk.join(timeout=240)
        assert not kiosk.is_alive(), "the kiosk did not finish"
        for thread in threads:
            thread.join(timeout=240)
        assert not any(thread.is_alive() for thread in threads), "a clerk did not finish"
        # Late transfers can land in a service whose counters already went idle: serve them too.
        for _ in range(5):
            if not box.call("GET", "/queue", "sofia").json()["tickets"]:
                break
            rounds = [clerk.thread() for clerk in clerks]
            for thread in rounds:
                thread.start()
            for thread in rounds:
                thread.join(timeout=120)
        for clerk in clerks:
            clerk.close_counter()

        # ---- let the box settle: sync backlog to 0, print spool empty, displays caught up
        time.sleep(1.1)  # /healthz answers from a one-second cache: no reading from before the last event
        wait_until(lambda: (lambda h: h["sync"]["backlog"] == 0 and h["sync"]["state"] == "ok")(healthz(box)),
                   120, "the sync backlog to reach 0")
        wait_until(lambda: healthz(box)["printer"]["backlog"] == 0, 120, "the print spool to empty")
        last_seq = box.call("GET", "/events?after=0&limit=1", "sofia").json()["last_seq"]
        for display in displays:
            wait_until(lambda d=display: d.catch_up() == 0 and (d.filtered or d.caught_up_to() == last_seq), 60,
                       f"{display.name} to catch up")
        box_events = all_events(box, "sofia")
        display_events_api = all_events(box, "pantalla-1")
        # The central KPIs over the same service days as the box's own report.
        days = sorted({t["issued_at"][:10] for t in kiosk.acknowledged.values()})
        period = {"from": days[0], "to": days[-1]}
        box_stats = box.call("GET", "/stats", "sofia", params=period).json()["totals"]
        central_kpis = requests.get(f"{central.url}/api/v1/sedes/{SEDE}/kpis", params=period, timeout=30,
                                    headers={"Authorization": f"Bearer {token}"}).json()["totals"]
    finally:
        stop.set()
        for display in displays:
            display.close()
        box.stop()
        central.stop()
        printer.close()

    print(f"\nsoak: {len(kiosk.acknowledged)} kiosk tickets, {sum(len(c.staff_issued) for c in clerks)} walk-ins, "
          f"{last_seq} events; retries through outages: kiosk {kiosk.caller.retries}, "
          f"clerks {sum(c.caller.retries for c in clerks)} (lost answers read back: "
          f"{sum(c.recovered for c in clerks)}); display connects "
          f"{[d.connects for d in displays]}; slips {len(printer.printed())}")
    failures = kiosk.failures + [f for clerk in clerks for f in clerk.failures]
    assert not failures, "\n".join(failures[:30])

    db = sqlite3.connect(data_dir / "turnero.db")
    db.row_factory = sqlite3.Row
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tickets = {row["id"]: dict(row) for row in db.execute("SELECT * FROM tickets")}
    attentions = [dict(row) for row in db.execute("SELECT * FROM attentions")]
    jobs = [dict(row) for row in db.execute("SELECT * FROM print_jobs")]
    db.close()

    # ---- every acknowledged ticket exists exactly once; retries with the same key made no double
    acknowledged = {**kiosk.acknowledged, **{k: t for clerk in clerks for k, t in clerk.staff_issued.items()}}
    assert len(kiosk.acknowledged) == TICKETS and len(acknowledged) > TICKETS
    for key, ids in kiosk.answers.items():
        assert len(set(ids)) == 1, f"{key} answered with different tickets: {ids}"
    assert any(len(ids) > 1 for ids in kiosk.answers.values()), "some issue was re-sent with its key"
    by_key = Counter(t["idempotency_key"] for t in tickets.values() if t["idempotency_key"])
    assert set(by_key) == set(acknowledged) and set(by_key.values()) == {1}
    for key, ticket in acknowledged.items():
        assert tickets[ticket["id"]]["idempotency_key"] == key
    originals = [t for t in tickets.values() if t["transferred_from"] is None]
    assert len(originals) == len(acknowledged), "a ticket exists that nobody was given"

    # ---- numbers per service-day: consecutive from 1, no duplicate; transfers keep code and number
    numbers = defaultdict(list)
    for ticket in originals:
        numbers[(ticket["service"], ticket["service_day"])].append(ticket["number"])
    for (service, day), got in numbers.items():
        assert sorted(got) == list(range(1, len(got) + 1)), f"{service} {day}: numbers {sorted(got)[:20]}..."
    for ticket in tickets.values():
        if ticket["transferred_from"] is not None:
            source = tickets[ticket["transferred_from"]]
            assert (ticket["code"], ticket["number"], ticket["public_id"]) == \
                (source["code"], source["number"], source["public_id"])
            assert source["status"] == "transferred"

    # ---- events: seq 1..N with no gap, ids unique
    seqs = [event["seq"] for event in box_events]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] == last_seq
    assert len({event["id"] for event in box_events}) == len(box_events)

    # ---- the day was really served: nothing left waiting or in hand
    statuses = Counter(t["status"] for t in tickets.values())
    assert set(statuses) <= {"done", "no_show", "transferred"}, statuses
    assert statuses["no_show"] and statuses["transferred"]
    events_by_type = Counter(event["type"] for event in box_events)
    assert events_by_type["ticket.returned"] and events_by_type["ticket.recalled"]

    # ---- one attention record per closed attention (SPEC: leaving serving, or no-show)
    per_ticket = Counter(a["ticket_id"] for a in attentions)
    for ticket in tickets.values():
        expected = 1 if ticket["status"] in ("done", "no_show") or (
            ticket["status"] == "transferred" and ticket["started_at"] is not None) else 0
        assert per_ticket[ticket["id"]] == expected, (ticket["code"], ticket["status"], per_ticket[ticket["id"]])
    attention_events = [event for event in box_events if "attention" in event["data"]]
    assert len(attention_events) == len(attentions)
    assert sorted(e["data"]["attention"]["ticket_id"] for e in attention_events) == \
        sorted(a["ticket_id"] for a in attentions)

    # ---- what the clerks were told matches the box
    for clerk in clerks:
        for ticket_id, outcome in clerk.done.items():
            assert tickets[ticket_id]["status"] == outcome
            assert tickets[ticket_id]["counter"] == clerk.counter

    # ---- no ticket was held by two counters at once, no counter held two tickets
    holder, in_hand, called = {}, {}, Counter()
    for event in box_events:
        data, kind = event["data"], event["type"]
        if kind == "ticket.called":
            ticket_id, counter = data["ticket"]["id"], data["ticket"]["counter"]
            assert ticket_id not in holder, f"seq {event['seq']}: {data['ticket']['code']} called by {counter} " \
                                            f"while held by {holder.get(ticket_id)}"
            assert counter not in in_hand, f"seq {event['seq']}: {counter} called while holding another ticket"
            holder[ticket_id], in_hand[counter] = counter, ticket_id
            called[(ticket_id, counter)] += 1
        elif kind in ("ticket.recalled", "ticket.started"):
            assert holder.get(data["ticket"]["id"]) == data["ticket"]["counter"], event
        elif kind in ("ticket.finished", "ticket.no_show", "ticket.returned", "ticket.cancelled",
                      "ticket.expired", "ticket.transferred"):
            gone = data["from"] if kind == "ticket.transferred" else data["ticket"]
            counter = holder.pop(gone["id"], None)
            if counter is not None:
                in_hand.pop(counter, None)
    assert not holder
    given = Counter((ticket_id, clerk.counter) for clerk in clerks for ticket_id in clerk.calls)
    assert given == called, "the calls the clerks were given differ from the box's ticket.called events"

    # ---- the central receiver holds exactly the box's events, each once
    cdb = sqlite3.connect(central.db_path)
    rows = cdb.execute("SELECT seq, id, type, at, data FROM events WHERE sede = ? ORDER BY seq", (SEDE,)).fetchall()
    received, acked = cdb.execute("SELECT events_received, acked_seq FROM sedes WHERE code = ?", (SEDE,)).fetchone()
    central_attentions = cdb.execute("SELECT COUNT(*) FROM attentions WHERE sede = ?", (SEDE,)).fetchone()[0]
    cdb.close()
    assert [row[0] for row in rows] == seqs
    assert [(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows] == \
        [(e["seq"], e["id"], e["type"], e["at"], e["data"]) for e in box_events]
    assert received == acked == len(box_events)
    assert central_attentions == len(attentions)
    for key in ("issued", "served", "no_shows", "cancelled", "transferred", "expired", "within_target_share"):
        assert central_kpis[key] == box_stats[key], (key, central_kpis[key], box_stats[key])
    for key in ("wait_seconds", "service_seconds"):  # the central keeps times in 30 s buckets (central.kpis)
        central_times, box_times = central_kpis[key], box_stats[key]
        assert central_times["count"] == box_times["count"], key
        assert all(abs(central_times[part] - box_times[part]) <= BUCKET_SECONDS
                   for part in ("median", "p90", "max")), (key, central_times, box_times)
    assert box_stats["issued"] == len(originals)

    # ---- the displays: every event reached the unfiltered ones, none pushed twice, no personal data
    assert any("SOAKDOC" in json.dumps(e["data"]) for e in box_events), "personal data was written at all"
    for display in displays:
        payloads = display.payloads()
        assert not keys_anywhere(payloads, PERSONAL_KEYS), f"{display.name}: {keys_anywhere(payloads, PERSONAL_KEYS)}"
        text = json.dumps(payloads, ensure_ascii=False)
        for marker in ("SOAKDOC", "Persona Soak", "Nota reservada", "EXP-SOAK"):
            assert marker not in text, f"{display.name} received {marker!r}"
        dni = {doc["number"] for doc in kiosk.documents if doc["type"] == "DNI"}
        assert not dni & set(re.findall(r'"(\d{8})"', text)), f"{display.name} received a DNI"
        pushed = display.pushed_seqs()
        # (python-socketio runs each handler on its own thread, so arrival order is not observable here.)
        assert len(pushed) == len(set(pushed)), f"{display.name}: a push came twice"
        assert display.connects >= 1 + KILLS, f"{display.name} reconnected after each restart"
        if display.filtered:
            vic = {e["seq"] for e in box_events
                   if any(isinstance(e["data"].get(k), dict) and e["data"][k].get("service") == "VIC"
                          for k in ("ticket", "from", "to"))}
            assert vic <= display.seen, f"{display.name} missed {sorted(vic - display.seen)[:10]}"
            # its services' ticket events, and the counter events that concern every display
            counter_events = {e["seq"] for e in box_events if e["type"].startswith("counter.")}
            assert set(pushed) <= vic | counter_events, f"{display.name} was pushed another service's events"
        else:
            assert display.seen == set(seqs), f"{display.name} missed {sorted(set(seqs) - display.seen)[:10]}"
    assert not keys_anywhere(display_events_api, PERSONAL_KEYS)

    # ---- printing: one job per issued ticket, every job printed after the paper came back
    per_ticket_jobs = Counter(job["ticket_id"] for job in jobs)
    assert set(per_ticket_jobs) == {t["id"] for t in originals} and set(per_ticket_jobs.values()) == {1}
    unprinted = [job for job in jobs if job["status"] != "printed"]
    assert not unprinted, f"{len(unprinted)} jobs not printed: {unprinted[:5]}"
    assert all(tickets[job["ticket_id"]]["print_status"] == "printed" for job in jobs)
    assert any(job["attempts"] > 1 for job in jobs), "some slip waited for the paper"
    slips = Counter()
    for data in printer.printed():
        for payload in qr_payloads(data):
            slips[payload.decode().rsplit("/", 1)[-1]] += 1
    assert set(slips) == {t["public_id"] for t in originals}, "a printed ticket has no slip, or a slip no ticket"
    # A job cut short by SIGKILL is printed again (a duplicate slip beats none): at most one per kill.
    assert sum(slips.values()) - len(slips) <= KILLS
