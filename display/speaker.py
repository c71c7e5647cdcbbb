"""The box's own speaker (``[voice] play_on_box``): plays each announcement in order with sox.

Off by default: most sedes play the calls through the display TV. A player that fails (no sound
card, sox missing) is logged; it never holds up the calls.
"""
from __future__ import annotations

import logging
import queue
import subprocess
import threading
from pathlib import Path

from display import audio

log = logging.getLogger(__name__)
PLAYER = ("play", "-q")  # sox; ALSA's aplay would do as well


class BoxSpeaker:
    def __init__(self, command=PLAYER):
        self.command = list(command)
        self.played: list[str] = []  # what was played, newest last (for the admin and the tests)
        self.last_error: str | None = None
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="turnero-box-speaker", daemon=True)
            self._thread.start()

    def stop(self):
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def play(self, files: list[Path], repeat: int = 1):
        """Queue the chime (first file) and the phrases, said ``repeat`` times."""
        chime, phrases = files[0], files[1:]
        self._queue.put([chime] + phrases * max(1, repeat))

    def _run(self):
        while True:
            files = self._queue.get()
            if files is None:
                return
            for path in files:
                try:
                    limit = audio.duration(path) + 5
                    subprocess.run(self.command + [str(path)], check=True, timeout=limit,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    self.played.append(Path(path).name)
                except (OSError, subprocess.SubprocessError, ValueError) as exc:
                    self.last_error = str(exc)
                    log.error("the box speaker could not play %s: %s", path, exc)
                    break
