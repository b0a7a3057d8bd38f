"""One robot call: dial, wait for an answer, run the flow on the live call, map the result.

Runs on a call thread; every pjsua2 operation goes through ``SipEngine`` (which runs it on the
polling thread). SIP outcomes: 486/600 busy; 408/480/ring timeout no answer; 404/484 invalid
number (permanent); 5xx transient; answered -> the flow's intent with transcript, DTMF, codes.

Answering-machine detection (``outbound.voice.amd``) listens to the callee while the first
prompt plays, so a person hears the robot at once: a machine verdict stops the prompt, waits for
the greeting's beep (or its silence) and the runner leaves the voicemail message; human and
unsure let the prompt play on. The verdict goes into the call's detail (``amd``). The callee's
audio reaches it through the call's ``AudioTap`` (pjmedia's recorder, read by this thread), so
its timing is the audio's own, whatever the load.
"""

from __future__ import annotations

import audioop  # C; deprecated in 3.13
import functools
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outbound.observability import metrics
from outbound.voice.amd import AmdParams, AmdResult, BeepDetector, Detector, Verdict, frames
from outbound.voice.asr import Recognizers
from outbound.voice.call_handle import CallHandle
from outbound.voice.flow import Flow
from outbound.voice.runner import Grammar, Heard, PlayEnd, RunResult, answer_prompts, run_flow
from outbound.voice.sip import SipEngine
from outbound.voice.tap import VOICED_RMS, AudioTap
from outbound.voice.tts import Tts

POLL_S = 0.05  # how often a call thread looks at its call (keys, audio, hangup)
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
    if got.confidence is not None:
        metrics.ASR_CONFIDENCE.observe(got.confidence)
    return Heard(
        text=got.text,
        confidence=got.confidence,
        alternatives=got.alternatives,
        nbest=got.nbest,
        tail=got.tail,
        unknown=got.unknown,
    )


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
        amd = self._detector(started) if self._first_prompt else None
        self._first_prompt = False
        try:
            while not done.wait(POLL_S):
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
                self.verdict = amd.feed(self._take_audio()) or amd.close()
                self._stop_capture()
        self._tap()
        self._last_word = time.monotonic()
        return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.DONE

    def _detector(self, since: float) -> Detector | None:
        """AMD over the callee's audio from audio time ``since`` (the prompt's start) on."""
        tap = self._tap()
        if self.limits.amd is None or tap is None:
            return None
        tap.start_capture(since)
        return Detector(self.limits.amd, self.engine.cfg.clock_rate)

    def _take_audio(self) -> bytes:
        """The captured audio read so far (the tap is pumped first)."""
        tap = self._tap()
        if tap is None:
            return b""
        chunks = []
        while not tap.audio.empty():
            chunks.append(tap.audio.get_nowait())
        return b"".join(chunks)

    def _stop_capture(self) -> None:
        tap = self._tap()
        if tap is not None:
            tap.stop_capture()

    def _settle(self, amd: Detector | None, result: AmdResult, cause: str) -> None:
        if amd is not None and self.verdict is None:
            self.verdict = Verdict(result, cause, amd.elapsed, amd.words, amd.voice)
            self._stop_capture()

    def _await_beep(self, amd: Detector) -> PlayEnd:
        """A machine: wait for the beep to end (or the greeting's silence), then the message.
        Silence is counted in audio frames, so a starved thread does not cut the wait short."""
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
                time.sleep(POLL_S)
            self.beep = False
            return PlayEnd.HANGUP if self.h.disconnected.is_set() else PlayEnd.MACHINE
        finally:
            self._prompt_end = self._audio_now()
            self._stop_capture()

    def amd_detail(self) -> dict[str, Any] | None:
        if self.verdict is None:
            return None
        return {**self.verdict.detail(), **({} if self.beep is None else {"beep": self.beep})}

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
                while rec is not None and not tap.audio.empty() and not rec.answer_over:
                    rec.feed(tap.audio.get_nowait())
            if rec is not None and rec.answer_over:
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


class _SetupTimer:
    """The trunk's answer to the INVITE: from dialling to the first of ringing, answered or
    refused, observed once as ``outbound_provider_request_seconds{provider="sip"}``."""

    def __init__(self, started: float) -> None:
        self.started, self.done = started, False

    def check(self, h: CallHandle) -> None:
        if self.done:
            return
        answered = h.confirmed.is_set() or h.disconnected.is_set()
        if not (h.ringing_at or answered):
            return
        at = h.ringing_at or time.monotonic()
        metrics.PROVIDER_SECONDS.labels("sip").observe(max(at - self.started, 0.0))
        self.done = True


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
    metrics.CALLS_IN_PROGRESS.inc()
    metrics.PROVIDER_IN_FLIGHT.labels("sip").inc()
    setup = _SetupTimer(started)
    try:
        while not (h.confirmed.is_set() or h.disconnected.is_set()):
            setup.check(h)
            # ring time counts from the phone ringing, not from the INVITE leaving a busy host
            rang = h.ringing_at or started + SETUP_GRACE
            if time.monotonic() > rang + limits.ring_timeout:
                engine.hangup(h)
                h.disconnected.wait(5)
                return CallReport(False, h.codes, h.last_code, h.reason, ring_timeout=True)
            time.sleep(0.01)
        setup.check(h)
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
        metrics.CALLS_IN_PROGRESS.dec()
        metrics.PROVIDER_IN_FLIGHT.labels("sip").dec()
        engine.release(h)
