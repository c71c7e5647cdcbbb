"""A pack reviewed in the voice studio reaching the calls: how long from the review (its commit)
until a call is announced with it, on a real ``turnero run`` (web worker + device process), while
calls keep coming, and whether any call went unannounced meanwhile.

The "recordings" are Spanish words from espeak-ng standing for a throw-away Aymara pack (no
Aymara is written anywhere); they are stored as a web worker would, through
``turnero.voice_packs.VoiceStudio`` on its own database connection. Then calls run in a loop,
the whole pack is reviewed at once, and each call's announcement is read back: the first call
committed after the review whose announcement holds the Aymara part gives the figure (target
<= 1 s: the device process checks the version at most once a second). Printed, never asserted.

    .venv/bin/python bench/bench_voice_pack.py [--calls-after 15]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import USERS, LiveBox, write_sede  # noqa: E402
from test_display_support import free_counters, issue, last_seq  # noqa: E402

LANG = "ay"
TARGET_SECONDS = 1.0


def recording(scratch: Path, key: str) -> bytes:
    raw = scratch / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "es-419", "-w", str(raw), key.split(":", 1)[1]], check=True,
                   capture_output=True, timeout=20)
    return raw.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls-after", type=int, default=15, help="calls made after the review")
    args = parser.parse_args()
    from config import load_settings
    from turnero.store import Store
    from turnero.voice_packs import VoiceStudio, required_keys

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data_dir = write_sede(scratch / "data")
        env = {"TURNERO_VOICE_PACK_DIR": str(scratch / "packs"), "TURNERO_VOICE_LANGUAGES": f"es,{LANG}",
               "TURNERO_VOICE_PRECOMPUTE": "false"}
        box = LiveBox(data_dir, env=env).prepare(users={**USERS, "tina": "traductor", "rosa": "traductor"},
                                                 devices=(("pantalla-1", "display", []),)).start()
        store = Store.in_data_dir(data_dir)
        try:
            settings = load_settings(data_dir, env)
            studio = VoiceStudio(store, settings)
            started = time.perf_counter()
            for key in required_keys(settings):
                studio.record(LANG, key, recording(scratch, key), "tina")
            print(f"voice pack: {len(required_keys(settings))} clips recorded and converted by sox in "
                  f"{time.perf_counter() - started:.2f} s (borrador: not used yet)")

            calls, stop, reviewed_at = [], threading.Event(), []

            def caller():
                while not stop.is_set():
                    free_counters(box)
                    issue(box)
                    response = box.call("POST", "/counters/v1/call-next", "ana")
                    committed = time.perf_counter()
                    seq = last_seq(box)
                    body = box.call("GET", f"/announcements/{seq}?wait=10", "pantalla-1").json()
                    calls.append({"committed": committed, "ok": response.status_code == 200, "status": body["status"],
                                  "languages": [part["language"] for part in body["parts"]]})
                    if reviewed_at and sum(call["committed"] > reviewed_at[0] for call in calls) >= args.calls_after:
                        return

            thread = threading.Thread(target=caller)
            thread.start()
            time.sleep(2.0)  # a few calls before the review, said in Spanish only
            studio.review(LANG, None, "rosa")  # returns once committed
            reviewed_at.append(time.perf_counter())
            thread.join(timeout=120)
            stop.set()
        finally:
            store.close()
            box.stop()

    after = [call for call in calls if call["committed"] > reviewed_at[0]]
    before = [call for call in calls if call["committed"] <= reviewed_at[0]]
    first = next((call for call in after if LANG in call["languages"]), None)
    dropped = [call for call in calls if not call["ok"] or call["status"] != "ready"]
    print(f"  calls before the review: {len(before)}, with the pack: "
          f"{sum(LANG in call['languages'] for call in before)} (expected 0)")
    if first is None:
        print(f"  no call after the review used the pack ({len(after)} calls)")
    else:
        seconds = first["committed"] - reviewed_at[0]
        verdict = "met" if seconds <= TARGET_SECONDS else "NOT met"
        print(f"  review commit -> first call announced with the pack: {seconds:.2f} s "
              f"(call #{after.index(first) + 1} after the review; target {TARGET_SECONDS:.0f} s: {verdict})")
        print(f"  calls after the review without the pack: {sum(LANG not in call['languages'] for call in after)}")
    print(f"  calls not announced (dropped or failed): {len(dropped)} of {len(calls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
