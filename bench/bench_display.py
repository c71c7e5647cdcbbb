"""From an API call to the code drawn on the hall display in Chromium: p50/p95/p99 over 100 calls.

Runs its own ``turnero run`` on 127.0.0.1 and a headless Debian Chromium (the display with its
sound off, so the figure is the screen's). The time is taken from just before the HTTP call to
the first animation frame after the display drew the call (same machine clock on both sides).

    .venv/bin/python bench/bench_display.py [--calls 100]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import CHROMIUM, LiveBox, write_sede  # noqa: E402
from test_display_support import free_counters, issue, open_display  # noqa: E402

TARGET_MS = 150


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        box = LiveBox(write_sede(Path(scratch) / "data")).prepare(
            devices=(("pantalla-1", "display", []),)).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=["--no-sandbox", "--disable-gpu"])
                page = open_display(browser, box)
                latencies = []
                deadline = time.time() + 300
                for _ in range(args.calls):
                    if time.time() > deadline:
                        break
                    free_counters(box)
                    issue(box)
                    started_ms = time.time() * 1000
                    response = box.call("POST", "/counters/v1/call-next", "ana")
                    code = response.json()["ticket"]["code"]
                    handle = page.wait_for_function(
                        "code => { const e = window.turneroDisplay.shown.find(s => s.code === code"
                        " && s.paintedAt); return e ? e.paintedAt : null; }", arg=code, timeout=10000)
                    latencies.append(handle.json_value() - started_ms)
                browser.close()
        finally:
            box.stop()
    p50, p95, p99 = (percentile(latencies, share) for share in (0.5, 0.95, 0.99))
    print(f"display: API call -> code painted in Chromium, {len(latencies)} calls")
    print(f"  p50 {p50:.1f} ms   p95 {p95:.1f} ms   p99 {p99:.1f} ms   max {max(latencies):.1f} ms"
          f"   mean {statistics.mean(latencies):.1f} ms")
    print(f"  target p99 <= {TARGET_MS} ms: {'met' if p99 <= TARGET_MS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
