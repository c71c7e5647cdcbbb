"""The speech synthesis worker: a separate process that turns one phrase at a time into a WAV file.

Run by :class:`display.voice_synth.SynthWorker`, never imported by the box. It is a process of
its own because pyttsx3 prints to stdout, writes only the last queued file and can hang in its
loop; the box kills it on a timeout and starts a fresh one.

Protocol (JSON lines): the box writes ``{"id", "text", "voice", "rate", "path", "trim_ms"}`` on
stdin (``trim_ms``: cut the silence around the phrase, keeping that much); the
worker answers ``{"id", "ok": true}`` or ``{"id", "ok": false, "error"}`` on its original stdout.
Anything pyttsx3 or espeak-ng prints goes to stderr instead, so it cannot corrupt the answers.
This file imports nothing from the project, so it runs from its path alone.
"""
from __future__ import annotations

import json
import os
import sys
import threading


def _private_stdout():
    """Keep the real stdout for answers and send fd 1 (pyttsx3's prints) to stderr."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", buffering=1)
    return answers


def _take_samples_first(engine) -> None:
    """pyttsx3 2.x's espeak driver writes the file *before* adding the samples that arrive with
    the end-of-message event, so a short word can come out empty and a phrase can lose its end.
    This callback takes the samples first, then lets the driver handle the events."""
    import ctypes

    from pyttsx3.drivers import _espeak

    driver = getattr(engine.proxy, "_driver", None)
    if driver is None or not hasattr(driver, "_data_buffer") or not hasattr(driver, "_onSynth"):
        return  # another pyttsx3 layout: leave it alone
    original = driver._onSynth

    def on_synth(wav, numsamples, events):
        if numsamples > 0 and driver._speaking:
            driver._data_buffer += ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))
        return original(wav, 0, events)

    _espeak.SetSynthCallback(on_synth)


def synthesize(engine, finished: threading.Event, request: dict) -> None:
    text = request["text"]
    if not text.strip():
        raise ValueError("empty text")  # pyttsx3's espeak loop never ends on an empty text
    engine.setProperty("voice", request["voice"])
    engine.setProperty("rate", int(request["rate"]))
    for _attempt in range(3):  # espeak-ng's asynchronous callbacks now and then deliver nothing
        finished.clear()
        if os.path.exists(request["path"]):
            os.remove(request["path"])  # an old file must not pass for this phrase
        # One file per run: pyttsx3 keeps only the last save_to_file queued before runAndWait.
        engine.save_to_file(text, request["path"])
        engine.runAndWait()
        # On an engine's first run, runAndWait can return while espeak-ng (asynchronous retrieval
        # mode) still synthesizes; the file is complete once the utterance is reported finished.
        # No timeout here: the box kills this process if it never finishes.
        finished.wait()
        if os.path.exists(request["path"]) and os.path.getsize(request["path"]) > 44:
            return
    raise RuntimeError(f"the synthesizer wrote no audio for {text!r}")


def trim_silence(path: str, keep_ms: int, level: int = 300) -> None:
    """Cut the leading and trailing silence of the 16-bit mono WAV at ``path``, keeping ``keep_ms``
    so words do not click. Done here, not in the box: scanning samples in Python is CPU the box's
    requests would wait for."""
    import wave
    from array import array

    with wave.open(path, "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        frames = wav.readframes(wav.getnframes())
    if width != 2 or channels != 1:
        return
    samples = array("h")
    samples.frombytes(frames)
    first = next((i for i in range(len(samples)) if abs(samples[i]) > level), None)
    if first is None:
        samples = array("h")
    else:
        last = next(i for i in range(len(samples) - 1, first - 1, -1) if abs(samples[i]) > level)
        keep = rate * keep_ms // 1000
        samples = samples[max(0, first - keep):last + keep]
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


def main() -> int:
    answers = _private_stdout()
    try:
        os.nice(5)  # (the device process is niced 5 already) speech must not slow the box's answers
    except OSError:
        pass
    engine = None
    finished = threading.Event()
    for line in sys.stdin:
        if not line.strip():
            continue
        request_id = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            if engine is None:
                import pyttsx3

                engine = pyttsx3.init("espeak")
                engine.connect("finished-utterance", lambda **_: finished.set())
                _take_samples_first(engine)
            synthesize(engine, finished, request)
            if request.get("trim_ms") is not None:
                trim_silence(request["path"], int(request["trim_ms"]))
            answer = {"id": request_id, "ok": True}
        except Exception as exc:  # every failure is answered; the box decides what to do
            answer = {"id": request_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
