"""``AudioTap`` over a file written the way pjmedia's WAV recorder writes it (header, then
appended 16-bit PCM in bursts): speech timing in audio seconds, capture from a past moment."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from outbound.voice.tap import WAV_HEADER, AudioTap

RATE = 16000
FRAME = RATE // 50  # samples per 20 ms


def _frames(n: int, amplitude: int) -> bytes:
    samples = (int(amplitude * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(n * FRAME))
    return b"".join(struct.pack("<h", s) for s in samples)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def test_speech_and_silence_are_timed_in_audio_seconds_however_late_the_reader(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rx.wav"
    path.write_bytes(b"R" * WAV_HEADER)
    tap = AudioTap(path, RATE)
    # a reader that looks only once, after 1 s of silence and 1.5 s of speech arrived
    _append(path, _frames(50, 0) + _frames(75, 8000))
    assert tap.pump() == 125
    assert abs(tap.seconds - 2.5) < 1e-6
    assert abs(tap.speaking_for() - 1.5) < 1e-6 and tap.silent_for() < 0.03
    # half a frame is kept for the next look; then 1 s of silence ends the speech
    tail = _frames(50, 0)
    _append(path, tail[: 2 * FRAME + 7])
    assert tap.pump() == 1
    _append(path, tail[2 * FRAME + 7 :])
    assert tap.pump() == 49
    assert tap.speaking_for() == 0.0 and abs(tap.silent_for() - 1.0) < 0.03


def test_capture_starts_at_the_given_audio_time_from_kept_frames(tmp_path: Path) -> None:
    path = tmp_path / "rx.wav"
    path.write_bytes(b"R" * WAV_HEADER)
    tap = AudioTap(path, RATE)
    _append(path, _frames(100, 0))  # 2 s, read before anyone listens
    tap.pump()
    tap.start_capture(since=1.5)  # the prompt ended at 1.5 s: the answer may start there
    _append(path, _frames(10, 8000))
    tap.pump()
    queued = []
    while not tap.audio.empty():
        queued.append(tap.audio.get_nowait())
    assert len(queued) == 25 + 10 and all(len(f) == FRAME * 2 for f in queued)
    tap.stop_capture()
    _append(path, _frames(5, 0))
    tap.pump()
    assert tap.audio.empty()


def test_a_missing_file_reads_nothing(tmp_path: Path) -> None:
    tap = AudioTap(tmp_path / "gone.wav", RATE)
    assert tap.pump() == 0 and tap.seconds == 0.0
    tap.remove()
