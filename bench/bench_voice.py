"""Voice latency: from a committed call to its announcement being ready (WAV on disk), uncached
and cached, through a real ``turnero run`` on 127.0.0.1 (pyttsx3 + espeak-ng in the worker).

- uncached: a new code with precomputation off, so the phrase is synthesized after the call;
- cached: a recall of the same ticket (same phrase), answered from the cache on disk;
- precomputed: precomputation on (the default), a new call whose phrase was made when issued.

Time runs from the call's HTTP answer (the commit) until ``/api/v1/announcements/<seq>?wait=``
answers "ready"; the HTTP round trip of that request is included.

    .venv/bin/python bench/bench_voice.py [--calls 30]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import LiveBox, write_sede  # noqa: E402
from test_display_support import free_counters, issue, last_seq  # noqa: E402

TARGETS = {"uncached": 150, "cached": 10, "precomputed": 10}


def announcement_ready_ms(box, seq: int, since: float) -> float:
    response = box.call("GET", f"/announcements/{seq}?wait=10", "pantalla-1")
    body = response.json()
    if body.get("status") != "ready":
        raise RuntimeError(f"announcement {seq}: {body}")
    return (time.perf_counter() - since) * 1000


def run(precompute: bool, calls: int) -> dict:
    env = {"TURNERO_VOICE_PRECOMPUTE": "true" if precompute else "false"}
    results = {"new": [], "recall": []}
    with tempfile.TemporaryDirectory() as scratch:
        box = LiveBox(write_sede(Path(scratch) / "data"), env=env).prepare(
            devices=(("pantalla-1", "display", []),)).start()
        try:
            # Warm up: the worker process starts on the first phrase.
            free_counters(box)
            issue(box)
            box.call("POST", "/counters/v1/call-next", "ana")
            announcement_ready_ms(box, last_seq(box), time.perf_counter())
            for _ in range(calls):
                free_counters(box)
                issue(box)
                if precompute:
                    time.sleep(0.2)  # a ticket waits far longer than this before it is called
                response = box.call("POST", "/counters/v1/call-next", "ana")
                committed = time.perf_counter()
                assert response.status_code == 200, response.text
                results["new"].append(announcement_ready_ms(box, last_seq(box), committed))
                response = box.call("POST", "/counters/v1/recall", "ana")
                committed = time.perf_counter()
                assert response.status_code == 200, response.text
                results["recall"].append(announcement_ready_ms(box, last_seq(box), committed))
            health = requests.get(box.url + "/healthz", timeout=5).json()["voice"]
        finally:
            box.stop()
    results["health"] = health
    return results


def in_process(precompute: bool, calls: int) -> dict:
    """The same, without HTTP: from the commit (engine call returns) to the announcement ready."""
    from turnero import create_app

    results = {"new": [], "recall": []}
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({"DATA_DIR": str(write_sede(Path(scratch) / "data")), "START_WORKERS": True,
                          "ENV": {"TURNERO_VOICE_PRECOMPUTE": "true" if precompute else "false"}})
        box, voice = app.extensions["turnero"], app.extensions["turnero.voice"]
        try:
            for index in range(calls + 1):
                box.engine.issue("ORI")
                if precompute:
                    time.sleep(0.2)
                for action, key in ((lambda: box.engine.call_next("v1", "ana"), "new"),
                                    (lambda: box.engine.recall("v1", "ana"), "recall")):
                    action()
                    committed = time.perf_counter()
                    body = voice.announcement(voice.call_event(box.engine.last_seq()), wait=10)
                    if body["status"] != "ready":
                        raise RuntimeError(body)
                    if index:  # the first round starts the worker process
                        results[key].append((time.perf_counter() - committed) * 1000)
                ticket = box.engine.counter("v1")["ticket"]
                box.engine.no_show(ticket["id"], "ana")
        finally:
            box.stop()
            box.store.close()
    return results


def summary(name: str, values: list) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    verdict = "met" if statistics.median(values) <= TARGETS[name] else "NOT met"
    return (f"  {name:<12} n={len(values):<3} median {statistics.median(values):6.1f} ms   p95 {p95:6.1f} ms"
            f"   max {max(values):6.1f} ms   (target {TARGETS[name]} ms: {verdict} on the median)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    cold = run(precompute=False, calls=args.calls)
    warm = run(precompute=True, calls=args.calls)
    print("voice: committed call -> announcement ready (WAV on disk), via HTTP")
    print(summary("uncached", cold["new"]))
    print(summary("cached", cold["recall"] + warm["recall"]))
    print(summary("precomputed", warm["new"]))
    cold_local = in_process(precompute=False, calls=args.calls)
    warm_local = in_process(precompute=True, calls=args.calls)
    print("voice: committed call -> announcement ready, in the box's process (no HTTP)")
    print(summary("uncached", cold_local["new"]))
    print(summary("cached", cold_local["recall"] + warm_local["recall"]))
    print(summary("precomputed", warm_local["new"]))
    print(f"  worker stats (precompute off): synthesized {cold['health']['synthesized']},"
          f" cache hits {cold['health']['cache_hits']}, failures {cold['health']['failures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
