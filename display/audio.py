"""Small WAV helpers over the standard library: 16-bit mono PCM, which is what espeak-ng writes.

Enough to check a file (duration, rate, loudness), trim silence, join clips and make the chime;
no numpy and no audioop (removed in Python 3.13).
"""
from __future__ import annotations

import math
import os
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

RATE = 22050  # espeak-ng's native rate, and what pyttsx3 writes
SILENCE_LEVEL = 300  # peak below this (of 32767) counts as silence when trimming


@dataclass(frozen=True)
class Clip:
    rate: int
    samples: array  # signed 16-bit mono

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0


def read(path: str | Path) -> Clip:
    """Read a 16-bit PCM WAV (mono, or the first channel of a stereo file)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is supported")
        channels, rate = wav.getnchannels(), wav.getframerate()
        samples = array("h")
        samples.frombytes(wav.readframes(wav.getnframes()))
    if channels > 1:
        samples = samples[::channels]
    return Clip(rate, samples)


def write(path: str | Path, clip: Clip) -> Path:
    """Write atomically: readers (the display, the cache check) never see a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with wave.open(str(temporary), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(clip.rate)
        wav.writeframes(clip.samples.tobytes())
    os.replace(temporary, path)
    return path


def duration(path: str | Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return round(wav.getnframes() / wav.getframerate(), 3)


def rms(samples: array) -> float:
    if not samples:
        return 0.0
    return math.sqrt(sum(sample * sample for sample in samples) / len(samples))


def info(path: str | Path) -> dict:
    """Duration, rate and loudness of a WAV file (used to validate what the worker wrote)."""
    clip = read(path)
    return {"duration": round(clip.duration, 3), "rate": clip.rate, "rms": round(rms(clip.samples), 1)}


def trim(clip: Clip, level: int = SILENCE_LEVEL, keep_ms: int = 20) -> Clip:
    """Drop leading and trailing silence, keeping a few milliseconds so words do not click."""
    samples = clip.samples
    # Scan inward from each end: only the silence is visited, not the whole phrase (this runs in
    # the web process for every new call).
    first = next((index for index in range(len(samples)) if abs(samples[index]) > level), None)
    if first is None:
        return Clip(clip.rate, array("h"))
    last = next(index for index in range(len(samples) - 1, first - 1, -1) if abs(samples[index]) > level)
    keep = clip.rate * keep_ms // 1000
    return Clip(clip.rate, samples[max(0, first - keep):last + keep])


def silence(rate: int, milliseconds: int) -> array:
    return array("h", bytes(2 * (rate * milliseconds // 1000)))


def resample(clip: Clip, rate: int) -> Clip:
    """Linear interpolation; enough for speech clips recorded at another rate."""
    if clip.rate == rate or not clip.samples:
        return Clip(rate, clip.samples)
    source = clip.samples
    length = max(1, round(len(source) * rate / clip.rate))
    step = (len(source) - 1) / max(1, length - 1)
    out = array("h")
    for index in range(length):
        position = index * step
        low = int(position)
        high = min(low + 1, len(source) - 1)
        fraction = position - low
        out.append(int(source[low] + (source[high] - source[low]) * fraction))
    return Clip(rate, out)


def join(clips: list, rate: int, gap_ms: int = 60) -> Clip:
    """Concatenate clips (``None`` is a pause) at ``rate``, with a short gap between words."""
    out = array("h")
    for clip in clips:
        if clip is None:
            out.extend(silence(rate, 250))
            continue
        out.extend(resample(clip, rate).samples)
        out.extend(silence(rate, gap_ms))
    return Clip(rate, out)


def chime(rate: int = RATE) -> Clip:
    """A two-note "ding-dong" (E5 then C5) with a soft decay: heard in a noisy hall, not harsh."""
    out = array("h")
    for frequency, seconds in ((659.25, 0.45), (523.25, 0.7)):
        count = int(rate * seconds)
        for index in range(count):
            t = index / rate
            envelope = min(1.0, index / (0.01 * rate)) * math.exp(-3.2 * t)
            value = math.sin(2 * math.pi * frequency * t) + 0.3 * math.sin(4 * math.pi * frequency * t)
            out.append(int(12000 * envelope * value))
    return Clip(rate, out)
