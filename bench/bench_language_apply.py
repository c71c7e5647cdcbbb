"""Shared languages reaching a box (issue #13): how long from applying a pulled package until
another process of the box uses it, and whether any call is dropped meanwhile.

A real central receiver on 127.0.0.1 (SQLite); box A proposes ~500 throw-away reviewed strings
in Shipibo-Konibo's slot (``shp``: "PRUEBA" text, never a translation) and a recorded voice pack
(sine tones standing for words), the central approves both, and box B's agent pulls, verifies and
applies them. A watcher process on B's database (as a web worker or the device process would be)
reads ``i18n.catalog('shp')`` and the recorded-pack voice backend in a loop and reports when
each shows the new package; the figure is from the apply's commit (target <= 1 s: both check
their kv version at most once a second). Meanwhile B issues and calls tickets in a thread; the
events' seq must have no gap and every call must have its event. Printed, never asserted.

    .venv/bin/python bench/bench_language_apply.py [--strings 500]
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import math
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import SEDE_TOML, write_sede  # noqa: E402

LANG = "shp"
TARGET_SECONDS = 1.0

WATCHER = r"""
import sys, time, json
sys.path.insert(0, sys.argv[1])
from turnero import i18n
from turnero.store import Store
from turnero.translations import Translations
from turnero.voice_packs import pack_version
from display.voice_backend_pack import PackBackend
store = Store(sys.argv[2])
i18n.init(Translations(store))
backend = PackBackend({"pack_dir": sys.argv[3]}, sys.argv[4], None, lambda: pack_version(store))
key, want = sys.argv[5], sys.argv[6]
print("ready", flush=True)
seen = {}
deadline = time.time() + 60
while len(seen) < 2 and time.time() < deadline:
    if "catalog" not in seen and i18n.catalog("shp").get(key) == want:
        seen["catalog"] = time.time()
    if "voice" not in seen and backend.packs.has_language("shp"):
        seen["voice"] = time.time()
    time.sleep(0.002)
print(json.dumps(seen), flush=True)
"""


def tone(seconds: float = 0.3, rate: int = 22050) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        frames = int(seconds * rate)
        wav.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(frames)))
    return out.getvalue()


def reviewed_pack(folder: Path, keys: list[str]) -> None:
    clips, studio, sound = {}, {}, tone()
    for key in keys:
        name = f"clips/{key.replace(':', '_')}.wav"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(sound)
        clips[key] = name
        studio[key] = {"state": "revisado", "author": "rosa", "recorded_at": 1.0, "reviewer": "juan", "reviewed_at": 2.0}
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "language": LANG, "source": "bench",
                                                      "phrase": ["word:turno", "{code}", ",", "{counter}"],
                                                      "clips": clips, "studio": studio}), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strings", type=int, default=500, help="reviewed strings in the catalog")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from central.languages import approve
    from central.service import add_sede
    from central.testing import CentralServer
    from config import load_settings
    from sync.agent import SyncAgent
    from sync.languages import publish
    from turnero.engine import Engine
    from turnero.store import Store
    from turnero.translations import Translations, placeholders, translatable_keys
    from turnero.voice_packs import required_keys

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        central = CentralServer(f"sqlite:///{scratch / 'central.db'}").start()
        boxes = {}
        for sede in ("TEST-01", "TEST-02"):
            token = add_sede(central.db, sede, sede)
            text = (SEDE_TOML.replace('code = "TEST-01"', f'code = "{sede}"')
                    + f'\n[voice]\nengine = "none"\npack_dir = "{scratch / sede / "packs"}"\n'
                    + f'\n[sync]\ncentral_url = "{central.url}"\ntoken = "{token}"\n')
            data_dir = write_sede(scratch / sede, text)
            settings = load_settings(data_dir, {})
            store = Store.in_data_dir(data_dir)
            boxes[sede] = (settings, store, Engine(store, settings))
        a_settings, a_store, a_engine = boxes["TEST-01"]
        b_settings, b_store, b_engine = boxes["TEST-02"]
        watcher = None
        try:
            offered = translatable_keys(LANG)
            keys = list(offered)[:args.strings]
            texts = {key: ("PRUEBA shp " + " ".join(f"{{{name}}}" for name in sorted(placeholders(offered[key]) or ())))
                     .strip() for key in keys}
            translations = Translations(a_store)
            translations.save_many(LANG, list(texts.items()), "rosa")
            for key in keys:
                translations.review(LANG, key, "juan")
            reviewed_pack(Path(a_settings.voice["pack_dir"]) / LANG, required_keys(a_settings))
            started = time.perf_counter()
            sent = publish(a_engine, a_settings.sync, LANG, "juan")
            proposed = ", ".join("%s (%d items)" % (item["kind"], item["items"]) for item in sent)
            print(f"box A proposed {proposed} "
                  f"in {time.perf_counter() - started:.2f} s")
            for item in sent:
                approve(central.db, item["id"], "bench")

            probe = keys[0]
            watcher = subprocess.Popen([sys.executable, "-c", WATCHER, str(ROOT), str(b_store.path),
                                        b_settings.voice["pack_dir"], str(scratch / "voice-scratch"), probe,
                                        texts[probe]], stdout=subprocess.PIPE, text=True)
            assert watcher.stdout.readline().strip() == "ready"
            time.sleep(1.2)  # the watcher has read its versions once: what it sees next is the change

            b_engine.open_counter("v1", "ana")
            calls, stop = [], threading.Event()

            def traffic():
                while not stop.is_set():
                    b_engine.issue("ORI", channel="staff")
                    ticket = b_engine.call_next("v1", "ana")
                    if ticket is not None:
                        calls.append(ticket["id"])
                        b_engine.start(ticket["id"], "ana")
                        b_engine.finish(ticket["id"], "ana", "resolved")
                    time.sleep(0.05)

            first_seq = b_engine.last_seq()
            thread = threading.Thread(target=traffic)
            thread.start()
            time.sleep(0.3)
            agent = SyncAgent(b_engine, b_settings.sync)
            began = time.time()
            agent.pull()
            result = agent.pull_languages()
            applied_at = time.time()
            agent.close()
            seen = json.loads(watcher.stdout.readline() or "{}")
            time.sleep(0.3)
            stop.set()
            thread.join()

            print(f"box B pulled, verified and applied {result['applied']} package(s) in {applied_at - began:.2f} s "
                  f"(errors: {result.get('error') or 'none'})")
            for kind in ("catalog", "voice"):
                if kind in seen:
                    delay = seen[kind] - applied_at
                    mark = "ok" if delay <= TARGET_SECONDS else "over target"
                    print(f"  {kind}: used by another process {max(delay, 0):.3f} s after the apply finished "
                          f"({seen[kind] - began:.3f} s after the pull began; target <= {TARGET_SECONDS:.0f} s: {mark})")
                else:
                    print(f"  {kind}: NOT seen by the other process within 60 s")
            events = [b_engine.views.event(row) for row in b_engine.events_after(first_seq, 10 ** 6)]
            seqs = [event["seq"] for event in events]
            called = {event["data"]["ticket"]["id"] for event in events if event["type"] == "ticket.called"}
            gap = seqs != list(range(first_seq + 1, first_seq + 1 + len(seqs)))
            print(f"  during the apply: {len(calls)} call(s), {len(seqs)} event(s) seq {seqs[0] if seqs else '-'}.."
                  f"{seqs[-1] if seqs else '-'}, gap: {'YES' if gap else 'none'}, "
                  f"calls without their event: {len(set(calls) - called)}")
        finally:
            if watcher is not None and watcher.poll() is None:
                watcher.kill()
            for _, store, _ in boxes.values():
                store.close()
            central.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
