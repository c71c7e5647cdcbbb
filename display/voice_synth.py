"""The box's side of the synthesis worker process: send a phrase, wait with a timeout, kill on a hang."""
from __future__ import annotations

import json
import logging
import os
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
WORKER = Path(__file__).resolve().with_name("voice_worker.py")


class SynthesisError(Exception):
    """The worker answered with an error, died, or did not answer in time."""


class SynthTimeout(SynthesisError):
    pass


class SynthWorker:
    """One long-lived worker process, restarted after it dies or is killed on a timeout."""

    def __init__(self, timeout: float, command: str | list | None = None):
        self.timeout = timeout
        if isinstance(command, str) and command.strip():
            command = shlex.split(command)
        self.command = command or [sys.executable, str(WORKER)]
        self.process: subprocess.Popen | None = None
        self.kills = 0
        self._next_id = 0
        self._buffer = b""
        self._lock = threading.Lock()

    def synthesize(self, text: str, voice: str, rate: int, path: Path, trim_ms: int | None = None) -> None:
        """Write ``text`` spoken by ``voice`` to ``path`` (a WAV file, its silence trimmed to
        ``trim_ms`` if given) or raise SynthesisError."""
        with self._lock:
            process = self._ensure_started()
            self._next_id += 1
            request = {"id": self._next_id, "text": text, "voice": voice, "rate": rate, "path": str(path),
                       "trim_ms": trim_ms}
            try:
                process.stdin.write((json.dumps(request) + "\n").encode())
                process.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self._kill()
                raise SynthesisError(f"the synthesis worker is gone: {exc}") from None
            answer = self._read_answer(process, self._next_id)
            if not answer.get("ok"):
                raise SynthesisError(answer.get("error") or "synthesis failed")

    def _ensure_started(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None:
            self._buffer = b""
            # Its own session, so a kill takes espeak-ng helpers along; stderr holds pyttsx3's chatter.
            self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, start_new_session=True)
        return self.process

    def _read_answer(self, process: subprocess.Popen, request_id: int) -> dict:
        deadline = time.monotonic() + self.timeout
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    try:
                        answer = json.loads(line)
                    except ValueError:
                        continue  # not ours: a stray line cannot be an answer
                    if answer.get("id") == request_id:
                        return answer
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kills += 1
                    self._kill()
                    raise SynthTimeout(f"no answer within {self.timeout:g} s; the worker was killed")
                if not selector.select(remaining):
                    continue
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    self._kill()
                    raise SynthesisError("the synthesis worker exited")
                self._buffer += chunk

    def _kill(self):
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("synthesis worker %s did not die", process.pid)
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def close(self):
        with self._lock:
            self._kill()
