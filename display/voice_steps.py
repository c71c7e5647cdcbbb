"""The kiosk's steps said aloud: a catalog text to a cached WAV, made off the request path.

The kiosk names a step; its blueprint looks the text up in the catalog and hands over
*candidates*, in order: ``[language, catalog key, text]`` of the kiosk's language (text None when
that language has no reviewed text), then Spanish. The first candidate a source can say wins:

- a recorded pack (:mod:`display.voice_pack`) of that language with a clip named by the catalog
  key (``"kiosk.speech.start": "kiosk/start.wav"`` in its manifest);
- else espeak-ng, when ``[voice] voice_<language>`` names a voice and there is a text.

A voice only ever reads its own language's text: the candidate carries both, so Spanish is never
read by the Quechua voice nor the reverse. Synthesis reuses the announcer's espeak-ng backend
(its isolated worker process and timeout) and runs in a thread of its own, so the request that
asked only waits as long as it was willing to (``wait``) and then hears "pending". Files go to
the announcer's cache (``<data_dir>/voice/<key>.wav``, pruned with it), named by a hash of what
decides the sound.
"""
from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from pathlib import Path

from display import audio
from display.voice_backend import cache_key
from display.voice_pack import Packs

log = logging.getLogger(__name__)
MAX_WAIT_SECONDS = 3.0  # a kiosk request is never held longer; the page polls instead
RETRY_FAILED_AFTER = 60.0  # a failing text is not retried at once: each try may hold the worker a timeout long
PACKS_CHECK_SECONDS = 10.0  # a pack recorded in the voice studio is picked up without a restart
KEPT = 500


class StepSpeech:
    def __init__(self, voice: dict, cache_dir: Path, espeak=None):
        self.voice = voice  # the [voice] settings
        self.cache_dir = Path(cache_dir)
        self._espeak = espeak  # the announcer's EspeakBackend when it has one (one worker process for both)
        self._own_espeak = False
        self._packs: Packs | None = None
        self._packs_read = float("-inf")
        self._failed: dict[str, tuple[float, str]] = {}  # file key -> (when, error)
        self._waiters: dict[str, threading.Event] = {}
        self._jobs: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ----------------------------------------------------------------- sources

    def packs(self) -> Packs:
        now = time.monotonic()
        if self._packs is None or now - self._packs_read >= PACKS_CHECK_SECONDS:
            self._packs, self._packs_read = Packs(self.voice["pack_dir"]), now
        return self._packs

    def espeak_available(self) -> bool:
        return bool(self.voice["worker_command"]) or shutil.which("espeak-ng") is not None

    def plan(self, language: str, catalog_key: str, text: str | None) -> dict | None:
        """How ``language`` would say this candidate, or None when no source can."""
        pack = self.packs().packs.get(language)
        if pack is not None and pack.has(catalog_key):
            return {"source": "pack", "language": language, "voice": f"pack:{language}", "clip": catalog_key,
                    "key": cache_key("kiosk", "pack", pack.fingerprint, language, catalog_key)}
        voice = self.voice.get(f"voice_{language}")
        if text and voice and self.espeak_available():
            return {"source": "espeak", "language": language, "voice": voice, "text": text,
                    "key": cache_key("kiosk", "espeak", voice, self.voice["rate"], text)}
        return None

    # ----------------------------------------------------------------- asking

    def speak(self, candidates: list, wait: float = 0.0) -> dict:
        """``{"status": ready|pending|failed|unavailable, "file", "language", "voice", "source",
        "duration"}`` for the first candidate a source can say; waits up to ``wait`` seconds."""
        plan = next((found for found in (self.plan(*candidate) for candidate in candidates) if found), None)
        if plan is None:
            return {"status": "unavailable", "file": None, "language": None, "voice": None, "source": None}
        path = self.cache_dir / f"{plan['key']}.wav"
        if not path.exists():
            waiter, error = self._submit(plan)
            if waiter is None:
                return self._describe(plan, "failed", error=error)
            waiter.wait(max(0.0, min(float(wait), MAX_WAIT_SECONDS)))
            if not path.exists():
                failed = self._failed.get(plan["key"])
                return self._describe(plan, "failed", error=failed[1]) if failed else self._describe(plan, "pending")
        try:
            path.touch()  # the announcer's cache prunes the least recently used files first
        except OSError:
            pass
        return self._describe(plan, "ready", duration=audio.duration(path))

    def _describe(self, plan: dict, status: str, duration: float | None = None, error: str | None = None) -> dict:
        return {"status": status, "file": plan["key"] if status == "ready" else None, "language": plan["language"],
                "voice": plan["voice"], "source": plan["source"], "duration": duration, "error": error}

    def _submit(self, plan: dict) -> tuple[threading.Event | None, str | None]:
        """The event set when the plan's file is made (or failed), or (None, error) while a
        recent failure stands."""
        with self._lock:
            failed = self._failed.get(plan["key"])
            if failed is not None:
                if time.monotonic() - failed[0] < RETRY_FAILED_AFTER:
                    return None, failed[1]
                del self._failed[plan["key"]]
            waiter = self._waiters.get(plan["key"])
            if waiter is None:
                waiter = self._waiters[plan["key"]] = threading.Event()
                self._jobs.put(plan)
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(target=self._run, name="turnero-kiosk-speech", daemon=True)
                    self._thread.start()
            return waiter, None

    # ----------------------------------------------------------------- work

    def _run(self):
        while True:
            plan = self._jobs.get()
            if plan is None:
                return
            try:
                self._render(plan)
            except Exception as exc:  # the thread must survive anything; the kiosk shows its text regardless
                log.error("kiosk speech (%s, %s) failed: %s", plan["language"], plan["source"], exc)
                with self._lock:
                    self._failed[plan["key"]] = (time.monotonic(), str(exc))
                    while len(self._failed) > KEPT:
                        self._failed.pop(next(iter(self._failed)))
            finally:
                with self._lock:
                    waiter = self._waiters.pop(plan["key"], None)
                if waiter is not None:
                    waiter.set()

    def _render(self, plan: dict) -> None:
        path = self.cache_dir / f"{plan['key']}.wav"
        if path.exists():
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if plan["source"] == "pack":
            clip = self.packs().packs[plan["language"]].clip(plan["clip"])
        else:
            clip = self._espeak_backend().render({"key": plan["key"], "text": plan["text"], "voice": plan["voice"]})
        if not clip.samples:
            raise ValueError("the phrase came out silent")
        audio.write(path, clip)  # atomic: the web worker serves the file the moment it exists

    def _espeak_backend(self):
        if self._espeak is None:
            from display.voice_backend_espeak import EspeakBackend

            self._espeak, self._own_espeak = EspeakBackend(self.voice, self.cache_dir), True
        return self._espeak

    def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=5)
        if self._own_espeak and self._espeak is not None:
            self._espeak.close()
