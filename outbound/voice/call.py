"""One robot call: dial, wait for an answer, run the flow on the live call, map the result.

Runs on a call thread; every pjsua2 operation goes through ``SipEngine`` (which runs it on the
polling thread). SIP outcomes: 486/600 busy; 408/480/ring timeout no answer; 404/484 invalid
number (permanent); 5xx transient; answered -> the flow's intent with transcript, DTMF, codes.
"""

from __future__ import annotations

import audioop  # C; deprecated in 3.13
import functools
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outbound.voice.asr import Recognizers
from outbound.voice.flow import Flow
from outbound.voice.runner import Grammar, Heard, PlayEnd, RunResult, answer_prompts, run_flow
from outbound.voice.sip import CallHandle, SipEngine
from outbound.voice.tap import VOICED_RMS, AudioTap
from outbound.voice.tts import Tts

POLL_S = 0.05  # how often a call thread looks at its call (keys, audio, hangup)
GREETING_END_SILENCE = 0.8  # audio seconds of silence that end an answering machine's greeting
HANGUP_TAIL = 1.0  # after the last word, before BYE: the far end's jitter buffer still plays
SPEAKING_GRACE = 6.0  # extra audio seconds for an answer already under way at the timeout
SETUP_GRACE = 5.0  # before any 180/183: time for the INVITE to reach a ringing phone
MAX_AUDIO_LAG = 2.0  # wall seconds the audio clock may fall behind before wall time counts
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


@functools.lru_cache(maxsize=512)
def speech_end(path: Path) -> float:
    """Seconds into a prompt WAV where its last word ends (its trailing silence excluded):
    from there on a customer may answer, and the answer is heard from its first syllable."""
    with wave.open(str(path), "rb") as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    step = rate // 50 * 2
    last = 0
    for i in range(0, len(pcm) - step + 1, step):
        if audioop.rms(pcm[i : i + step], 2) >= VOICED_RMS:
            last = i + step
    return last / 2 / rate


def _heard(rec: Any) -> Heard:
    got = rec.result()
    return Heard(text=got.text, confidence=got.confidence, alternatives=got.alternatives)


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
        self._prompt_end = 0.0  # audio time the last prompt ended (where an answer may start)
        self._last_word = 0.0  # monotonic time the last prompt played to its end
        self.deadline = (handle.answered_at or time.monotonic()) + limits.max_seconds
        self.cut_off = False  # the robot hung up at max_call_seconds

    def _over_time(self) -> bool:
        """Past ``max_call_seconds`` since answer: hang up (once) and say so."""
        if not self.cut_off and time.monotonic() >= self.deadline:
            self.cut_off = True
            self.engine.hangup(self.h)
        return self.cut_off

    def _tap(self) -> AudioTap | None:
        return self.h.pump()

    def _audio_now(self) -> float:
        tap = self._tap()
        return tap.seconds if tap is not None else 0.0

    def play(self, text: str, *, locale: str, barge_in: bool) -> PlayEnd:
        if self.h.disconnected.is_set() or self._over_time():
            return PlayEnd.HANGUP
        done = threading.Event()
        wav = self.tts.wav_for(text, locale)
        started = self._audio_now()
        self.engine.play(self.h, str(wav), done)
        # the callee's answer may start the moment the prompt ends, in audio time: a listen
        # that begins late (a loaded machine) still hears it from there
        self._prompt_end = started + speech_end(wav)
        detect = self._first_prompt and self.limits.machine_seconds > 0
        self._first_prompt = False
        while not done.wait(POLL_S):
            if self.h.disconnected.is_set() or self._over_time():
                return PlayEnd.HANGUP
            if barge_in and not self.h.digits.empty():
                self.engine.stop_playing(self.h)
                return PlayEnd.INPUT
            if detect and self.h.speaking_for() >= self.limits.machine_seconds:
                self.engine.stop_playing(self.h)
                return self._await_greeting_end()
        self._tap()
        self._last_word = time.monotonic()
        return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.DONE

    def _await_greeting_end(self) -> PlayEnd:
        """The greeting has ended after 0.8 s of silence — in the audio's own time."""
        deadline = time.monotonic() + self.limits.greeting_max
        while time.monotonic() < deadline and not self.h.disconnected.is_set():
            if self._over_time():
                return PlayEnd.HANGUP
            tap = self._tap()
            if tap is not None and tap.silent_for() > GREETING_END_SILENCE:
                self._prompt_end = tap.seconds
                return PlayEnd.MACHINE
            time.sleep(POLL_S)
        return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.MACHINE

    def listen(self, grammar: Grammar, *, locale: str, timeout: float) -> Heard:
        if not self.h.digits.empty():
            return Heard(dtmf=self.h.digits.get())
        tap = self._tap()
        since = min(self._prompt_end, tap.seconds) if tap is not None else 0.0
        if tap is not None and self.speech:  # queued while a cold model still loads
            tap.start_capture(since)
        rec = self.asr.start(locale, grammar.all_phrases()) if self.speech else None
        try:
            return self._listen_loop(rec, tap, since, timeout)
        finally:
            if tap is not None:
                tap.stop_capture()

    def _listen_loop(self, rec: Any, tap: AudioTap | None, since: float, timeout: float) -> Heard:
        """Silence and speech limits count audio seconds, not wall time: a starved thread or
        a late media clock delays the answer, it does not cut it off. Wall time counts once
        the audio falls ``MAX_AUDIO_LAG`` behind (a far end that sends no RTP at all)."""
        began = time.monotonic()
        while True:
            if self.h.disconnected.is_set() or self._over_time():
                return Heard(hangup=True)
            if not self.h.digits.empty():
                return Heard(dtmf=self.h.digits.get())
            if tap is not None:
                tap.pump()
                while rec is not None and not tap.audio.empty() and not rec.utterance_done:
                    rec.feed(tap.audio.get_nowait())
            if rec is not None and rec.utterance_done:
                return _heard(rec)
            speaking = rec is not None and rec.heard_speech
            heard_s = (tap.seconds - since) if tap is not None else 0.0
            elapsed = max(heard_s, time.monotonic() - began - MAX_AUDIO_LAG)
            if elapsed > timeout + (SPEAKING_GRACE if speaking else 0.0):
                return _heard(rec) if rec is not None else Heard()
            time.sleep(POLL_S)

    def transfer(self, target: str) -> bool:
        if not target:
            return False
        self.engine.transfer(self.h, target)
        if not self.h.xfer_done.wait(max(0.0, min(15.0, self.deadline - time.monotonic()))):
            return False
        return 200 <= self.h.xfer_code < 300

    def hangup(self) -> None:
        """Hang up — a moment after the last prompt, so its end is not cut off at the far end."""
        left = self._last_word + HANGUP_TAIL - time.monotonic()
        if left > 0 and not self._over_time():
            self.h.disconnected.wait(left)
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
    for text in answer_prompts(flow, locale, values, asr.has(locale)):
        tts.wav_for(text, locale)  # rendered before the INVITE, not after the callee answers
    started = time.monotonic()
    h = engine.dial(uri)
    try:
        while not (h.confirmed.is_set() or h.disconnected.is_set()):
            # ring time counts from the phone ringing, not from the INVITE leaving a busy host
            rang = h.ringing_at or started + SETUP_GRACE
            if time.monotonic() > rang + limits.ring_timeout:
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
