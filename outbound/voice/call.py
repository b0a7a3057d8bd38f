"""One robot call: dial, wait for an answer, run the flow on the live call, map the result.

Runs on a call thread; every pjsua2 operation goes through ``SipEngine`` (which runs it on the
polling thread). SIP outcomes: 486/600 busy; 408/480/ring timeout no answer; 404/484 invalid
number (permanent); 5xx transient; answered -> the flow's intent with transcript, DTMF, codes.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

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
    machine_seconds: float = 3.0  # continuous callee speech at answer -> answering machine
    greeting_max: float = 20.0


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
        detect = self._first_prompt and self.limits.machine_seconds > 0
        self._first_prompt = False
        while not done.wait(0.02):
            if self.h.disconnected.is_set() or self._over_time():
                return PlayEnd.HANGUP
            if barge_in and not self.h.digits.empty():
                self.engine.stop_playing(self.h)
                return PlayEnd.INPUT
            if detect and self.h.speaking_for() >= self.limits.machine_seconds:
                self.engine.stop_playing(self.h)
                return self._await_greeting_end()
        return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.DONE

    def _await_greeting_end(self) -> PlayEnd:
        deadline = time.monotonic() + self.limits.greeting_max
        while time.monotonic() < deadline and not self.h.disconnected.is_set():
            if self._over_time():
                return PlayEnd.HANGUP
            if time.monotonic() - self.h.last_voice > 0.8:
                return PlayEnd.MACHINE
            time.sleep(0.05)
        return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.MACHINE

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
        if session.cut_off:
            run.callee_hung_up, run.cut_off = False, True
        engine.hangup(h)
        h.disconnected.wait(5)
        return CallReport(True, h.codes, h.last_code, h.reason, run=run)
    finally:
        engine.release(h)
