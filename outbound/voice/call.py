"""One robot call: dial, wait for an answer, run the flow on the live call, map the result.

Runs on a call thread; every pjsua2 operation goes through ``SipEngine`` (which runs it on the
polling thread). SIP outcomes: 486/600 busy; 408/480/ring timeout no answer; 404/484 invalid
number (permanent); 5xx transient; answered -> the flow's intent with transcript, DTMF, codes.

Answering-machine detection (``outbound.voice.amd``) listens to the callee while the first
prompt plays, so a person hears the robot at once: a machine verdict stops the prompt, waits for
the greeting's beep (or its silence) and the runner leaves the voicemail message; human and
unsure let the prompt play on. The verdict goes into the call's detail (``amd``).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from outbound.voice.amd import AmdParams, AmdResult, BeepDetector, Detector, Verdict, frames
from outbound.voice.asr import Recognizers
from outbound.voice.flow import Flow
from outbound.voice.runner import Grammar, Heard, PlayEnd, RunResult, run_flow
from outbound.voice.sip import CallHandle, SipEngine
from outbound.voice.tts import Tts

BUSY = {486, 600}
NO_ANSWER = {408, 480, 487}
INVALID = {404, 484, 410, 604}


@dataclass(frozen=True)
class CallLimits:
    ring_timeout: float = 30.0
    max_seconds: float = 180.0
    #: answering-machine detection during the first prompt (None = off)
    amd: AmdParams | None = field(default_factory=AmdParams)


@dataclass
class CallReport:
    """What happened on the wire, for the outcome mapping."""

    answered: bool
    codes: list[int]
    last_code: int
    reason: str
    ring_timeout: bool = False
    run: RunResult | None = None
    seconds: float = 0.0


class SipCallSession:
    """The runner's CallSession on a live call."""

    def __init__(
        self,
        engine: SipEngine,
        handle: CallHandle,
        tts: Tts,
        asr: Recognizers,
        locale: str,
        limits: CallLimits,
    ) -> None:
        self.engine, self.h, self.tts, self.asr, self.limits = engine, handle, tts, asr, limits
        self.speech = asr.has(locale)
        self._first_prompt = True
        self.verdict: Verdict | None = None  # the AMD verdict of the first prompt
        self.beep: bool | None = None  # after a machine verdict: was the beep heard
        self.deadline = (handle.answered_at or time.monotonic()) + limits.max_seconds
        self.cut_off = False  # the robot hung up at max_call_seconds

    def _over_time(self) -> bool:
        """Past ``max_call_seconds`` since answer: hang up (once) and say so."""
        if not self.cut_off and time.monotonic() >= self.deadline:
            self.cut_off = True
            self.engine.hangup(self.h)
        return self.cut_off

    def play(self, text: str, *, locale: str, barge_in: bool) -> PlayEnd:
        if self.h.disconnected.is_set() or self._over_time():
            return PlayEnd.HANGUP
        done = threading.Event()
        self.engine.play(self.h, str(self.tts.wav_for(text, locale)), done)
        amd = self._detector() if self._first_prompt else None
        self._first_prompt = False
        try:
            while not done.wait(0.02):
                if self.h.disconnected.is_set() or self._over_time():
                    return PlayEnd.HANGUP
                if barge_in and not self.h.digits.empty():
                    self.engine.stop_playing(self.h)
                    self._settle(amd, AmdResult.HUMAN, "dtmf")
                    return PlayEnd.INPUT
                if amd is not None and self.verdict is None and amd.feed(self._take_audio()):
                    self.verdict = amd.verdict
                    if self.verdict is not None and self.verdict.result is AmdResult.MACHINE:
                        self.engine.stop_playing(self.h)
                        return self._await_beep(amd)
                    self._stop_capture()
        finally:
            if amd is not None and self.verdict is None:
                self.verdict = amd.close()
                self._stop_capture()
        return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.DONE

    def _detector(self) -> Detector | None:
        if self.limits.amd is None:
            return None
        self._drain_audio()
        self.h.capture = True  # the media thread queues the callee's audio for the analysis
        return Detector(self.limits.amd, self.engine.cfg.clock_rate)

    def _take_audio(self) -> bytes:
        chunks = []
        while not self.h.audio.empty():
            chunks.append(self.h.audio.get_nowait())
        return b"".join(chunks)

    def _stop_capture(self) -> None:
        self.h.capture = False
        self._drain_audio()

    def _settle(self, amd: Detector | None, result: AmdResult, cause: str) -> None:
        if amd is not None and self.verdict is None:
            self.verdict = Verdict(result, cause, amd.elapsed, amd.words, amd.voice)
            self._stop_capture()

    def _await_beep(self, amd: Detector) -> PlayEnd:
        """A machine: wait for the beep to end (or the greeting's silence), then the message."""
        params, rate = amd.p, amd.rate
        beep = BeepDetector(rate, params.min_beep_ms)
        deadline = time.monotonic() + params.beep_wait_ms / 1000
        silent_ms, rest = 0, b""
        try:
            while time.monotonic() < deadline and not self.h.disconnected.is_set():
                if self._over_time():
                    return PlayEnd.HANGUP
                pcm = rest + self._take_audio()
                whole = frames(pcm, rate)
                rest = pcm[len(whole) * len(whole[0]) :] if whole else pcm
                for frame in whole:
                    if beep.feed(frame):
                        self.beep = True
                        return PlayEnd.MACHINE
                    silent_ms = 0 if amd.voiced(frame) else silent_ms + 20
                if silent_ms >= params.no_beep_silence_ms and not beep.frames:
                    self.beep = False
                    return PlayEnd.MACHINE
                time.sleep(0.02)
            self.beep = False
            return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.MACHINE
        finally:
            self._stop_capture()

    def amd_detail(self) -> dict[str, Any] | None:
        if self.verdict is None:
            return None
        return {**self.verdict.detail(), **({} if self.beep is None else {"beep": self.beep})}

    def listen(self, grammar: Grammar, *, locale: str, timeout: float) -> Heard:
        if not self.h.digits.empty():
            return Heard(dtmf=self.h.digits.get())
        self._drain_audio()
        self.h.capture = self.speech  # queue the answer while a cold model still loads
        rec = self.asr.start(locale, grammar.all_phrases()) if self.speech else None
        try:
            return self._listen_loop(rec, timeout)
        finally:
            self.h.capture = False

    def _drain_audio(self) -> None:
        while not self.h.audio.empty():
            self.h.audio.get_nowait()

    def _listen_loop(self, rec: Any, timeout: float) -> Heard:
        start = time.monotonic()
        while True:
            if self.h.disconnected.is_set() or self._over_time():
                return Heard(hangup=True)
            if not self.h.digits.empty():
                return Heard(dtmf=self.h.digits.get())
            try:
                pcm = self.h.audio.get(timeout=0.02)
            except queue.Empty:
                pcm = b""
            if rec is not None and pcm:
                rec.feed(pcm)
            elapsed = time.monotonic() - start
            if rec is not None and rec.utterance_done:
                got = rec.result()
                return Heard(text=got.text, confidence=got.confidence)
            speaking = rec is not None and rec.heard_speech
            if elapsed > timeout + (6.0 if speaking else 0.0):
                if rec is None:
                    return Heard()
                got = rec.result()
                return Heard(text=got.text, confidence=got.confidence)

    def transfer(self, target: str) -> bool:
        if not target:
            return False
        self.engine.transfer(self.h, target)
        if not self.h.xfer_done.wait(max(0.0, min(15.0, self.deadline - time.monotonic()))):
            return False
        return 200 <= self.h.xfer_code < 300

    def hangup(self) -> None:
        self.engine.hangup(self.h)


def place_call(
    engine: SipEngine,
    uri: str,
    *,
    flow: Flow,
    locale: str,
    values: dict[str, Any],
    tts: Tts,
    asr: Recognizers,
    limits: CallLimits,
) -> CallReport:
    """Dial ``uri`` and, when answered, run ``flow``; always leaves the call released."""
    engine.register_thread(threading.current_thread().name)
    started = time.monotonic()
    h = engine.dial(uri)
    try:
        deadline = started + limits.ring_timeout
        while not (h.confirmed.is_set() or h.disconnected.is_set()):
            if time.monotonic() > deadline:
                engine.hangup(h)
                h.disconnected.wait(5)
                return CallReport(False, h.codes, h.last_code, h.reason, ring_timeout=True)
            time.sleep(0.01)
        if not h.confirmed.is_set():
            return CallReport(False, h.codes, h.last_code, h.reason)
        h.media_ready.wait(5)
        session = SipCallSession(engine, h, tts, asr, locale, limits)
        run = run_flow(flow, session, locale, values)
        run.amd = session.amd_detail()
        if session.cut_off:
            run.callee_hung_up, run.cut_off = False, True
        engine.hangup(h)
        h.disconnected.wait(5)
        return CallReport(True, h.codes, h.last_code, h.reason, run=run)
    finally:
        engine.release(h)
