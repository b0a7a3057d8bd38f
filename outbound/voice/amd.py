"""Answering-machine detection: is a person or a recorded greeting on the line, and where does
the greeting's beep end?

The classifier follows the parameters of Asterisk's app_amd (read for its documented
behaviour; this code is our own): a frame is voice or silence by WebRTC's VAD
(``webrtcvad``); a stretch of voice of at least ``min_word_ms`` after ``between_words_silence_ms``
of silence is a word. A greeting longer than ``greeting_ms``, more than ``max_words`` words or
one word longer than ``max_word_ms`` is a **machine**; a short greeting followed by
``after_greeting_silence_ms`` of silence is a **human** (a person says "Hello?" and waits);
``initial_silence_ms`` of silence at answer, or no decision within ``total_analysis_ms``, is
**unsure** (app_amd calls initial silence a machine; we would rather play the prompt to a person
who listens quietly, and record that we were unsure).

``BeepDetector`` finds the voicemail beep after a machine verdict: a pure tone at one of the
usual voicemail frequencies (Goertzel filters over 20 ms frames, one filter holding a large share of the
frame's energy for ``min_beep_ms``); the message is played when the tone stops.
"""

from __future__ import annotations

import array
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import webrtcvad

from outbound.observability import metrics

FRAME_MS = 20
#: Beep frequencies seen on voicemail systems and answering machines (Hz); the filters are
#: 50 Hz apart at 20 ms frames, so a tone between two of them is still caught.
BEEP_HZ = (440.0, 480.0, 620.0, 700.0, 850.0, 950.0, 1000.0, 1050.0, 1400.0, 1800.0, 2000.0)
#: A frame is tone when one filter holds this share of its energy; a tone halfway between two
#: filters still gives each ~0.4. Speech (espeak voices) passes it in 5 % of its frames, but
#: never for ``min_beep_ms`` at one pitch, which a beep must hold
TONE_SHARE = 0.35


class AmdResult(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNSURE = "unsure"  # treated as a person: the prompt plays


@dataclass(frozen=True)
class AmdParams:
    """app_amd's parameters (milliseconds) plus the VAD mode and the beep wait."""

    initial_silence_ms: int = 2500
    greeting_ms: int = 1500
    after_greeting_silence_ms: int = 800
    total_analysis_ms: int = 5000
    min_word_ms: int = 100
    between_words_silence_ms: int = 50
    max_words: int = 3
    max_word_ms: int = 5000
    vad_mode: int = 2  # 0 (lenient) .. 3 (strict) webrtcvad aggressiveness
    beep_wait_ms: int = 20000  # after a machine verdict: wait this long for the beep at most
    no_beep_silence_ms: int = 2500  # a greeting without a beep has ended after this silence
    min_beep_ms: int = 200  # speech held a beep-like pitch for 100 ms at most (benchmarks/amd.py)

    def __post_init__(self) -> None:
        if not 0 <= self.vad_mode <= 3:
            raise ValueError(f"amd_vad_mode {self.vad_mode!r} must be 0..3")
        if self.total_analysis_ms > 5000 or self.total_analysis_ms < FRAME_MS:
            raise ValueError(
                f"amd_total_analysis_ms {self.total_analysis_ms!r} must be 20..5000 ms: "
                "a longer analysis keeps a person waiting"
            )


@dataclass(frozen=True)
class Verdict:
    result: AmdResult
    cause: str  # long_greeting, max_words, max_word_length, voice_then_silence, ...
    decided_ms: int  # analysed audio until the verdict
    words: int
    voice_ms: int

    def detail(self) -> dict[str, Any]:
        return {
            "result": self.result.value,
            "cause": self.cause,
            "decided_ms": self.decided_ms,
            "words": self.words,
        }


def frames(pcm: bytes, rate: int) -> list[bytes]:
    """Whole 20 ms frames of 16-bit mono PCM (a trailing part is dropped)."""
    size = rate * FRAME_MS // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


class Detector:
    """Feed the callee's audio from answer on; ``verdict`` is set once it is decided."""

    def __init__(self, params: AmdParams, rate: int = 16000) -> None:
        if rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"clock rate {rate} Hz is not one webrtcvad accepts")
        self.p, self.rate = params, rate
        self.vad = webrtcvad.Vad(params.vad_mode)
        self._rest = b""
        self.elapsed = self.silence = self.run = self.voice = self.words = 0
        self.in_word = self.greeting = False
        self.verdict: Verdict | None = None

    def feed(self, pcm: bytes) -> Verdict | None:
        pcm, self._rest = self._rest + pcm, b""
        size = self.rate * FRAME_MS // 1000 * 2
        cut = len(pcm) - len(pcm) % size
        self._rest = pcm[cut:]
        for frame in frames(pcm[:cut], self.rate):
            if self.verdict is not None:
                break
            self._frame(self.vad.is_speech(frame, self.rate))
        return self.verdict

    def voiced(self, frame: bytes) -> bool:
        return bool(self.vad.is_speech(frame, self.rate))

    def _decide(self, result: AmdResult, cause: str) -> None:
        self.verdict = Verdict(result, cause, self.elapsed, self.words, self.voice)
        metrics.AMD_VERDICTS.labels(str(result)).inc()

    def _frame(self, speech: bool) -> None:
        p = self.p
        self.elapsed += FRAME_MS
        if speech:
            self.run += FRAME_MS
            self.voice += FRAME_MS
            if self.run >= p.min_word_ms and not self.in_word:
                self.words, self.in_word, self.greeting = self.words + 1, True, True
                self.silence = 0
            if self.words > p.max_words:  # app_amd: more words than a person says at answer
                return self._decide(AmdResult.MACHINE, "max_words")
            if self.run >= p.max_word_ms:
                return self._decide(AmdResult.MACHINE, "max_word_length")
            if self.greeting and self.voice >= p.greeting_ms:
                return self._decide(AmdResult.MACHINE, "long_greeting")
        else:
            self.silence += FRAME_MS
            if self.silence >= p.between_words_silence_ms:
                self.in_word, self.run = False, 0
            if not self.greeting and self.silence >= p.initial_silence_ms:
                return self._decide(AmdResult.UNSURE, "initial_silence")
            if self.greeting and self.silence >= p.after_greeting_silence_ms:
                return self._decide(AmdResult.HUMAN, "voice_then_silence")
        if self.elapsed >= p.total_analysis_ms:
            return self._decide(AmdResult.UNSURE, "too_long")
        return None

    def close(self) -> Verdict:
        """The verdict, or ``unsure`` when the audio ended first (e.g. the prompt was short)."""
        if self.verdict is None:
            self._decide(AmdResult.UNSURE, "analysis_cut_short")
        assert self.verdict is not None
        return self.verdict


def goertzel_share(samples: array.array[int], hz: float, rate: int, energy: float) -> float:
    """The share (0..1) of a frame's energy at ``hz``: 1.0 for a pure tone on the filter."""
    coeff = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    n = len(samples)
    return power / (n * energy / 2.0) if energy > 0 else 0.0


class BeepDetector:
    """Finds a beep (a steady pure tone) in 20 ms frames; ``ended`` once it has stopped."""

    def __init__(self, rate: int = 16000, min_beep_ms: int = 200, min_rms: int = 300) -> None:
        self.rate, self.min_frames, self.min_rms = rate, max(min_beep_ms // FRAME_MS, 1), min_rms
        self.tone_hz: float | None = None
        self.frames = 0
        self.heard = self.ended = False

    def feed(self, frame: bytes) -> bool:
        """Take one 20 ms frame; True when a beep of ``min_beep_ms`` or more has just ended."""
        hz = self._tone(frame)
        if hz is not None and (self.tone_hz is None or abs(hz - self.tone_hz) <= 60):
            self.tone_hz = self.tone_hz or hz
            self.frames += 1
            self.heard = self.heard or self.frames >= self.min_frames
            return False
        if self.heard:
            self.ended = True
            return True
        self.tone_hz, self.frames = hz, 1 if hz is not None else 0
        return False

    def _tone(self, frame: bytes) -> float | None:
        step = 2 if self.rate >= 16000 else 1  # 8 kHz is enough for tones below 2.1 kHz
        samples = array.array("h", frame)[::step]
        energy = float(sum(x * x for x in samples))
        if not samples or (energy / len(samples)) ** 0.5 < self.min_rms:
            return None
        rate = self.rate // step
        shares = {hz: goertzel_share(samples, hz, rate, energy) for hz in BEEP_HZ}
        best = max(shares, key=shares.__getitem__)
        return best if shares[best] >= TONE_SHARE else None
