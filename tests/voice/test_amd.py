"""Answering-machine detection over synthesised audio (espeak-ng voices, pure-tone beeps)."""

from __future__ import annotations

import pytest

from outbound.config import load_settings
from outbound.domain.errors import ConfigError
from outbound.testing.callees import espeak_pcm, silence_pcm, tone_pcm
from outbound.voice.amd import AmdParams, AmdResult, BeepDetector, Detector, Verdict, frames
from tests.conftest import require_tool
from tests.voice.conftest import ROOT

GREETING = (
    "Hi, you have reached the Miller family. We cannot take your call right now. "
    "Please leave your name and number after the tone."
)


@pytest.fixture(scope="module", autouse=True)
def _espeak() -> None:
    require_tool("espeak-ng")


def _verdict(pcm: bytes, params: AmdParams | None = None) -> Verdict:
    detector = Detector(params or AmdParams())
    for frame in frames(pcm, 16000):  # as the call delivers it: 20 ms at a time
        if detector.feed(frame) is not None:
            break
    return detector.close()


def _beep_end_s(pcm: bytes) -> float | None:
    beep = BeepDetector(16000)
    for i, frame in enumerate(frames(pcm, 16000)):
        if beep.feed(frame):
            return i * 0.02
    return None


@pytest.mark.parametrize(
    ("words", "voice"), [("Hello?", "en-us"), ("Yes, hello?", "en-us"), ("여보세요", "ko")]
)
def test_a_short_hello_then_silence_is_a_human(words: str, voice: str) -> None:
    v = _verdict(silence_pcm(0.4) + espeak_pcm(words, voice) + silence_pcm(3))
    assert (v.result, v.cause) == (AmdResult.HUMAN, "voice_then_silence"), v
    assert v.decided_ms < 3000


def test_a_long_greeting_is_a_machine_within_the_greeting_limit() -> None:
    v = _verdict(silence_pcm(0.3) + espeak_pcm(GREETING, "en-us") + silence_pcm(1))
    assert v.result is AmdResult.MACHINE and v.cause in ("long_greeting", "max_words"), v
    assert v.decided_ms <= 0.3 * 1000 + 2500  # 1.5 s of voice after the answer, plus pauses


def test_silence_at_answer_is_unsure_after_the_initial_silence() -> None:
    v = _verdict(silence_pcm(6))
    assert (v.result, v.cause, v.decided_ms) == (AmdResult.UNSURE, "initial_silence", 2500)


def test_no_verdict_within_the_total_analysis_time_is_unsure() -> None:
    # short words with short pauses, never a long greeting: app_amd's "not sure" (too long)
    params = AmdParams(greeting_ms=20000, max_words=100, after_greeting_silence_ms=2000)
    word = espeak_pcm("yes", "en-us") + silence_pcm(0.5)
    v = _verdict(silence_pcm(0.2) + word * 12, params)
    assert (v.result, v.cause, v.decided_ms) == (AmdResult.UNSURE, "too_long", 5000)


@pytest.mark.parametrize("hz", [440.0, 1000.0, 1400.0, 975.0])
def test_the_beep_after_a_greeting_is_found_where_it_ends(hz: float) -> None:
    greeting = silence_pcm(0.3) + espeak_pcm(GREETING, "en-us") + silence_pcm(0.4)
    pcm = greeting + tone_pcm(hz, 0.5) + silence_pcm(1)
    end = _beep_end_s(pcm)
    assert end is not None
    assert abs(end - (len(greeting) / 32000 + 0.5)) <= 0.06


@pytest.mark.parametrize(
    ("text", "voice"), [(GREETING, "en-us"), ("안녕하세요 지금은 전화를 받을 수 없습니다", "ko")]
)
def test_speech_alone_is_not_taken_for_a_beep(text: str, voice: str) -> None:
    assert _beep_end_s(espeak_pcm(text, voice) + silence_pcm(1)) is None


def test_a_total_analysis_over_five_seconds_is_refused_in_config_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"amd_total_analysis_ms 6000 must be 20\.\.5000"):
        AmdParams(total_analysis_ms=6000)
    with pytest.raises(ConfigError, match="amd_total_analysis_ms"):
        load_settings(ROOT / "config", {"voice": {"amd_total_analysis_ms": 8000}}, environ={})
