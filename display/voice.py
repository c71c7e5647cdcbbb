"""Spoken calls: from a committed call event to WAV files the display plays (and the box, if set).

One event path: an announcement is derived from the committed ``ticket.called`` or
``ticket.recalled`` row, looked up by ``seq``. The :class:`Announcer` hears commits through
``store.on_commit`` and makes the audio off the request path, in a thread of its own; the display
asks for ``/api/v1/announcements/<seq>``, which waits briefly for that work or, for a call it
never heard (after a restart), does it then.

The audio comes from a backend of :mod:`display.voice_backend` (espeak-ng in an isolated worker
process, or recorded packs, as ``[voice] engine`` says). Phrases are cached on disk in
``<data_dir>/voice/<key>.wav``, the key a hash of what decides the sound (backend, voice, rate,
text), so a recall or a repeated code is instant. Phrases of waiting tickets are made ahead of
their call (``[voice] precompute``). A failed synthesis leaves the call without voice: the
display still chimes and shows it, the error is logged and shown in ``/healthz``.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from pathlib import Path

from display import audio
from display.phrases import announced_languages
from display.speaker import BoxSpeaker
from display.voice_backend import open_backend
from display.voice_backend_pack import with_recorded_packs
from display.voice_synth import SynthesisError
from turnero.errors import DomainError
from turnero.i18n import translate
from turnero.voice_packs import pack_version

log = logging.getLogger(__name__)
CALL_TYPES = ("ticket.called", "ticket.recalled")
CHIME = "chime"
KEPT_RESULTS = 2000
PRECOMPUTE_BACKLOG = 32  # synthesis ahead of calls is bounded: past this, phrases are made when called
CALL, PRECOMPUTE = 0, 1  # job priorities: a call never waits behind precomputation
LATE_LOG_EVERY = 100  # a burst of calls too late to say is logged once per this many
# Codes restart daily, so the same phrases come back: the cache is kept, but bounded (a phrase is
# ~130 KB); the least recently used files go first.
CACHE_LIMIT_BYTES = 300 * 1024 * 1024
CACHE_KEEP_BYTES = 200 * 1024 * 1024
PRUNE_EVERY = 200  # new files between two checks


class Announcer:
    def __init__(self, settings, data_dir: Path, engine, speaker: BoxSpeaker | None = None):
        self.settings = settings
        self.voice = settings.voice
        self.engine = engine  # the queue engine: committed events and waiting tickets
        self.cache_dir = Path(data_dir) / "voice"
        self.languages = announced_languages(settings)
        store = getattr(engine, "store", None)
        # Packs recorded and reviewed in the voice studio say their language, whatever the engine.
        self.backend = with_recorded_packs(open_backend(self.voice, self.cache_dir), settings, self.cache_dir,
                                           (lambda: pack_version(store)) if store is not None else None)
        self.speaker = speaker
        self.chime_path = self.cache_dir / f"{CHIME}.wav"
        self.stats = {"synthesized": 0, "cache_hits": 0, "failures": 0}
        self.too_late = 0  # calls not said: still queued when no display waited for them any more
        self.last_error: str | None = None
        self.last_failed = False
        self._results: OrderedDict[int, dict] = OrderedDict()
        self._waiters: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._precompute_pending = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._steps = None  # the kiosk's spoken steps (display.voice_steps), made on first use

    # ----------------------------------------------------------------- lifecycle

    def ensure_chime(self) -> Path:
        """The chime is made once per data directory (the display plays it even with no voice)."""
        if not self.chime_path.exists():
            audio.write(self.chime_path, audio.chime())
        return self.chime_path

    def start(self):
        self.ensure_chime()
        if self._thread is None and self.backend is not None:
            self._thread = threading.Thread(target=self._run, name="turnero-voice", daemon=True)
            self._thread.start()
            if self.speaker is not None:
                self.speaker.start()

    def stop(self):
        self._stop.set()
        self._jobs.put((-1, 0, "stop", None))
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._steps is not None:
            self._steps.close()
        if self.backend is not None:
            self.backend.close()
        if self.speaker is not None:
            self.speaker.stop()

    @property
    def unspoken_languages(self) -> list[str]:
        """Asked each time: a review in the studio (a pack, a Quechua sentence) changes it live."""
        return self.backend.unspoken(self.languages) if self.backend is not None else []

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------- event intake

    def on_commit(self, events: list[dict]):
        """Store listener: runs in the committing request's thread, so it only queues work."""
        if self.backend is None or not self.running:
            return  # without the worker thread, announcements are made when asked for
        for event in events:
            if event["type"] in CALL_TYPES:
                self._submit(event, live=True)
            elif self.voice["precompute"] and event["type"] in ("ticket.issued", "ticket.transferred",
                                                                  "ticket.requeued", "ticket.returned"):
                self.precompute(event["data"]["ticket"])

    def precompute(self, ticket: dict):
        """Queue the phrases this waiting ticket may be called with (one per counter serving it)."""
        if ticket.get("status") != "waiting" or self._precompute_pending >= PRECOMPUTE_BACKLOG:
            return
        for counter in self.settings.counters.values():
            if ticket["service"] in counter.services:
                self._precompute_pending += 1
                brief = {"id": counter.id, "name": counter.name, "spoken_name": counter.spoken_name}
                self._jobs.put((PRECOMPUTE, next(self._order), "precompute", (ticket["code"], brief)))

    def _submit(self, event: dict, live: bool = False) -> threading.Event:
        """Queue the announcement of a call; ``live`` calls (just committed) also go to the box speaker."""
        with self._lock:
            waiter = self._waiters.get(event["seq"])
            if waiter is None:
                waiter = self._waiters[event["seq"]] = threading.Event()
                if event["seq"] in self._results:
                    waiter.set()
                else:
                    self._jobs.put((CALL, event["seq"], "call", (event, live, time.monotonic())))
        if not self.running and not waiter.is_set():
            self._drain()  # no worker thread (tests, CLI): do the work in the caller
        return waiter

    # ----------------------------------------------------------------- reading

    def call_event(self, seq: int) -> dict | None:
        """The committed call or recall event ``seq``, or None."""
        events = self.engine.events_after(seq - 1, 1) if seq > 0 else []
        if events and events[0]["seq"] == seq and events[0]["type"] in CALL_TYPES:
            return events[0]
        return None

    def announcement(self, event: dict, wait: float = 0.0) -> dict:
        """The announcement of a call event; waits up to ``wait`` seconds for it to be ready."""
        if self.backend is None:
            return self._describe(event, "disabled", [])
        seq = event["seq"]
        with self._lock:
            ready = self._results.get(seq)
        if ready is not None:
            return ready
        waiter = self._submit(event)
        waiter.wait(wait)
        with self._lock:
            return self._results.get(seq) or self._describe(event, "pending", [])

    def kiosk_speech(self, candidates: list, wait: float = 0.0) -> dict:
        """A kiosk step's text as a cached WAV (see :mod:`display.voice_steps`); never waits
        more than a short bound for synthesis."""
        with self._lock:
            if self._steps is None:
                from display.voice_steps import StepSpeech

                # One espeak-ng worker process for calls and kiosk steps, when the calls use espeak-ng.
                espeak = self.backend if self.backend is not None and self.backend.name == "espeak" else None
                self._steps = StepSpeech(self.voice, self.cache_dir, espeak)
        return self._steps.speak(candidates, wait)

    # ----------------------------------------------------------------- work

    def _run(self):
        if self.cache_dir.is_dir():
            self.prune_cache()
        if self.voice["precompute"]:
            self._jobs.put((PRECOMPUTE, next(self._order), "startup", None))
        while not self._stop.is_set():
            job = self._jobs.get()
            if job[2] == "stop":
                return
            self._handle(job)

    def _drain(self):
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job[2] != "stop":
                self._handle(job)

    def _handle(self, job):
        _priority, _order, kind, payload = job
        try:
            if kind == "call":
                event, live, queued_at = payload
                if time.monotonic() - queued_at > display_wait_seconds(self.voice):
                    self._give_up(event)
                else:
                    self._announce(event, live)
            elif kind == "precompute":
                self._precompute_pending = max(0, self._precompute_pending - 1)
                if self.last_failed:
                    return  # a failing synthesizer is left to the calls, not kept busy ahead of them
                code, counter = payload
                for part in self.backend.parts(code, counter, self.languages):
                    self._render(part)
            elif kind == "startup":
                self._precompute_waiting()
        except Exception:  # the voice thread must survive anything; the call is shown regardless
            log.exception("voice job %s failed", kind)

    def _precompute_waiting(self):
        for ticket in self.engine.queue()[:100]:
            self.precompute(ticket)

    def _announce(self, event: dict, live: bool):
        data = event["data"]
        counter = data.get("counter") or {"id": data["ticket"]["counter"], "name": data["ticket"]["counter_name"]}
        parts, errors = self._render_parts(data["ticket"]["code"], counter)
        status = "ready" if parts else "failed"
        if errors:
            log.error("voice for %s (seq %s) failed: %s", data["ticket"]["code"], event["seq"], "; ".join(errors))
        result = self._describe(event, status, parts, "; ".join(errors) or None)
        with self._lock:
            self._results[event["seq"]] = result
            while len(self._results) > KEPT_RESULTS:
                old, _ = self._results.popitem(last=False)
                self._waiters.pop(old, None)
            waiter = self._waiters.setdefault(event["seq"], threading.Event())
        waiter.set()
        if live and self.speaker is not None:
            self.speaker.play([self.chime_path] + [self.cache_dir / f"{part['key']}.wav" for part in parts],
                              self.voice["repeat"])

    def _give_up(self, event: dict):
        """A call queued for longer than a display waits for its phrase (a burst of calls faster
        than the synthesizer) is not said: the displays have chimed it without voice, and saying
        it now would delay the calls behind it, which can still be said in time. Its waiter is
        released and forgotten, so a display that asks again later gets it made then."""
        with self._lock:
            waiter = self._waiters.pop(event["seq"], None)
        if waiter is not None:
            waiter.set()
        self.too_late += 1
        if self.too_late % LATE_LOG_EVERY == 1:
            log.warning("voice: call %s (seq %s) was not said, too late (%d so far): calls come faster than "
                        "the synthesizer", event["data"]["ticket"]["code"], event["seq"], self.too_late)

    def test_phrase(self) -> str:
        """Say a sample call (admin page): synthesize it now and play it on the box's speaker if
        there is one. Errors: voice_disabled (409), voice_failed (503)."""
        if self.backend is None:
            raise DomainError("voice_disabled", translate("admin.test_voice_disabled"), 409)
        services = list(self.settings.services.values())
        code = f"{services[0].prefix if services else 'A'}-001"
        first = next(iter(self.settings.counters.values()), None)
        counter = {"id": first.id, "name": first.name, "spoken_name": first.spoken_name} if first else \
            {"id": "v1", "name": "Ventanilla 1", "spoken_name": "ventanilla uno"}
        parts, errors = self._render_parts(code, counter)
        if not parts:
            raise DomainError("voice_failed", translate("admin.test_voice_failed",
                                                        detail="; ".join(errors) or "—"), 503)
        if self.speaker is not None:
            self.speaker.play([self.ensure_chime()] + [self.cache_dir / f"{part['key']}.wav" for part in parts], 1)
        return translate("admin.test_voice_done", phrase=code, languages=", ".join(p["language"] for p in parts))

    def _render_parts(self, code: str, counter: dict) -> tuple[list, list]:
        """Render every language's part of a call: (the parts ready, "language: error" lines)."""
        parts, errors = [], []
        for part in self.backend.parts(code, counter, self.languages):
            try:
                self._render(part)
                parts.append(part)
            except (SynthesisError, OSError, ValueError) as exc:
                errors.append(f"{part['language']}: {exc}")
        return parts, errors

    def _render(self, part: dict) -> Path:
        """Make sure the part's WAV exists (cache hit or fresh synthesis)."""
        path = self.cache_dir / f"{part['key']}.wav"
        if path.exists():
            self.stats["cache_hits"] += 1
            _touch(path)
            return path
        with self._render_lock:
            if path.exists():
                self.stats["cache_hits"] += 1
                return path
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                clip = self.backend.render(part)
                if not clip.samples:
                    raise SynthesisError("the phrase came out silent")
                audio.write(path, clip)
            except Exception as exc:
                self.stats["failures"] += 1
                self.last_failed, self.last_error = True, f"{time.strftime('%H:%M:%S')} {exc}"
                raise
            self.stats["synthesized"] += 1
            self.last_failed = False
            if self.stats["synthesized"] % PRUNE_EVERY == 0:
                self.prune_cache()
            return path

    def prune_cache(self, limit: int = CACHE_LIMIT_BYTES, keep: int = CACHE_KEEP_BYTES) -> int:
        """Delete the least recently used phrases once the cache passes ``limit``; returns how many."""
        files = [(path.stat().st_mtime, path.stat().st_size, path) for path in self.cache_dir.glob("*.wav")
                 if path.name != self.chime_path.name]
        total = sum(size for _mtime, size, _path in files)
        removed = 0
        if total <= limit:
            return 0
        for _mtime, size, path in sorted(files):
            if total <= keep:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        log.info("voice cache pruned: %d files removed", removed)
        return removed

    def _describe(self, event: dict, status: str, parts: list, error: str | None = None) -> dict:
        data = event["data"]
        ticket = data["ticket"]
        counter = data.get("counter") or {"id": ticket["counter"], "name": ticket["counter_name"]}
        described = []
        for part in parts:
            path = self.cache_dir / f"{part['key']}.wav"
            duration = audio.duration(path) if path.exists() else None
            described.append({"language": part["language"], "text": part["text"],
                              "url": f"/display/voice/{part['key']}.wav", "duration": duration})
        return {
            "seq": event["seq"], "type": event["type"], "recall": event["type"] == "ticket.recalled",
            "code": ticket["code"], "counter": {"id": counter.get("id"), "name": counter.get("name")},
            "status": status, "parts": described, "repeat": self.voice["repeat"],
            "chime_url": f"/display/voice/{CHIME}.wav", "error": error,
        }

    # ----------------------------------------------------------------- health

    def health(self) -> dict:
        if self.backend is None:
            return {"status": "disabled"}
        problem = self.backend.problem() or (self.last_error if self.last_failed else None)
        body = {"status": "error" if problem else "ok", "engine": self.backend.name, "detail": problem,
                "languages": self.languages, "unspoken_languages": self.unspoken_languages, **self.stats,
                "worker_kills": self.backend.worker_kills}
        if self.last_error:
            body["last_error"] = self.last_error
        return body


def display_wait_seconds(voice: dict) -> float:
    """How long a display waits for a call's phrase (``?wait=`` of /api/v1/announcements): the
    synthesis timeout and a margin. A call not ready by then is chimed without voice."""
    return voice["timeout_seconds"] + 2


def _touch(path: Path):
    try:
        path.touch()  # the cache's "recently used" is the file's mtime
    except OSError:
        pass
