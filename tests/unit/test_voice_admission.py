"""Admission control of a dialer: the media clock's lateness, the media-priority CPU share, and
the decision (with its log line and reported state). Hand-fed measurements here; the real probe
and /proc are exercised in tests/voice/test_admission_calls.py and below."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from outbound.voice.admission import (
    Admission,
    AdmissionLimits,
    CpuMeter,
    MediaClock,
    Reading,
    Verdict,
)

# 16 kHz: pjmedia writes 3,840-byte blocks (0.12 s); the file grows by 4 KiB pages. The page
# ending at byte 4096 completes block 2 (0.24 s of audio), 8192 block 3, 12288 block 4, 16384
# block 5 (0.60 s).
PAGES = [(4096, 0.24), (8192, 0.36), (12288, 0.48), (16384, 0.60)]


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_audio_completed_by_a_probe_write_counts_whole_writer_blocks() -> None:
    clock = MediaClock(16000)
    assert [clock.audio_at(size) for size, _ in PAGES] == [0.24, 0.36, 0.48, 0.6]


def test_a_clock_that_keeps_time_is_not_late() -> None:
    wall = Wall(1000.0)
    clock = MediaClock(16000, wall=wall)
    for size, audio in PAGES:
        clock.note(size, 1000.0 + audio)
    wall.now = 1000.65
    assert clock.late_ms() == 0.0


def test_a_write_that_comes_300_ms_after_its_audio_is_300_ms_late() -> None:
    wall = Wall(1000.0)
    clock = MediaClock(16000, wall=wall)
    for size, audio in PAGES[:3]:
        clock.note(size, 1000.0 + audio)
    clock.note(16384, 1000.90)  # block 5 ends at 0.60 s of audio
    wall.now = 1000.95
    assert clock.late_ms() == pytest.approx(300.0)


def test_a_clock_that_stopped_writing_is_late_by_how_overdue_its_next_write_is() -> None:
    wall = Wall(1000.0)
    clock = MediaClock(16000, wall=wall)
    for size, audio in PAGES[:3]:
        clock.note(size, 1000.0 + audio)
    # last write: 0.48 s of audio; the next is due by 0.48 + 2 blocks = 0.72 s
    wall.now = 1001.50
    assert clock.late_ms() == pytest.approx(780.0)


def test_lateness_is_unknown_before_two_writes_and_kept_across_a_new_probe_file() -> None:
    wall = Wall(1000.0)
    clock = MediaClock(16000, wall=wall)
    clock.note(4096, 1000.24)
    assert clock.late_ms() is None
    clock.note(8192, 1000.66)  # 300 ms late
    wall.now = 1000.70
    clock.restart()
    assert clock.late_ms() == pytest.approx(300.0)


def _stat(pid: int, nice: int, ticks: int, start: int = 5) -> str:
    rest = ["S"] + ["0"] * 40
    rest[11], rest[12], rest[16], rest[19] = str(ticks), "0", str(nice), str(start)
    return f"{pid} (a b) " + " ".join(rest) + "\n"


def _proc(root: Path, stats: dict[int, tuple[int, int]], load: str = "1.00") -> None:
    for pid, (nice, ticks) in stats.items():
        (root / str(pid)).mkdir(exist_ok=True)
        (root / str(pid) / "stat").write_text(_stat(pid, nice, ticks))
    (root / "loadavg").write_text(f"{load} 0.5 0.2 1/100 42\n")


def test_cpu_share_counts_only_processes_at_media_priority_or_higher(tmp_path: Path) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    now = Wall(0.0)
    _proc(tmp_path, {10: (-10, 0), 11: (-15, 0), 12: (0, 0), 13: (10, 0)})
    meter = CpuMeter(-10, proc=tmp_path, cores=2, clock=now)
    assert meter.share() is None  # one reading: no interval yet
    # 2 s later: -10 used 1 s, -15 used 0.6 s; nice 0 and 10 burnt 2 s each (not counted)
    _proc(tmp_path, {10: (-10, tick), 11: (-15, int(0.6 * tick)), 12: (0, 2 * tick)})
    _proc(tmp_path, {13: (10, 2 * tick)})
    now.now = 2.0
    assert meter.share() == pytest.approx(1.6 / (2 * 2), abs=0.01)


def test_a_process_that_started_between_readings_is_not_counted_whole(tmp_path: Path) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    now = Wall(0.0)
    _proc(tmp_path, {10: (-10, 0)})
    meter = CpuMeter(-10, proc=tmp_path, cores=1, clock=now)
    meter.share()
    _proc(tmp_path, {10: (-10, tick // 2), 20: (-10, 100 * tick)})  # 20: new, 100 s of life
    now.now = 1.0
    assert meter.share() == pytest.approx(0.5, abs=0.01)


def test_load_per_core_reads_the_one_minute_load_average(tmp_path: Path) -> None:
    _proc(tmp_path, {}, load="3.00")
    assert CpuMeter(0, proc=tmp_path, cores=2).load_per_core() == 1.5


def test_the_real_proc_gives_a_share_between_0_and_1() -> None:
    now = Wall(0.0)
    meter = CpuMeter(os.getpriority(os.PRIO_PROCESS, 0), clock=now)
    meter.share()
    sum(i * i for i in range(200_000))  # some CPU of our own, at our own priority
    now.now = 1.0
    share = meter.share()
    assert share is not None and 0.0 < share <= 1.0


class Fixed:
    """A CpuMeter stand-in with a set share (the real one is tested above)."""

    def __init__(self, share: float | None, cores: int = 2) -> None:
        self.value, self.cores = share, cores

    def share(self) -> float | None:
        return self.value

    def load_per_core(self) -> float:
        return 0.0


def _gate(
    late: float | None, share: float | None, **limits: float
) -> tuple[Admission, list[Verdict], Wall]:
    wall = Wall(1000.0)
    clock = MediaClock(16000, wall=wall)
    if late is not None:
        clock.note(4096, 1000.24)
        clock.note(8192, 1000.36 + late / 1000)
        wall.now = 1000.37 + late / 1000
    reports: list[Verdict] = []
    mono = Wall(50.0)
    gate = Admission(
        AdmissionLimits(**limits),  # type: ignore[arg-type]
        clock,
        Fixed(share),  # type: ignore[arg-type]
        lambda: 2,
        reports.append,
        monotonic=mono,
        wall=wall,
    )
    return gate, reports, mono


def test_a_dialer_with_a_punctual_clock_and_cpu_to_spare_takes_the_call() -> None:
    gate, reports, _ = _gate(late=8.0, share=0.3)
    assert gate.admit() is True
    assert [(v.state(), v.reason) for v in reports] == [("admitting", "")]
    assert reports[0].reading == Reading(8.0, 0.3, 0.0, 2)


def test_a_late_media_clock_refuses_with_one_log_line_and_a_refusing_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate, reports, mono = _gate(late=450.0, share=0.3)
    with caplog.at_level(logging.WARNING, "outbound.voice.admission"):
        assert gate.admit() is False
        mono.now += 0.5
        assert gate.admit() is False  # within retry_seconds: not even measured again
        mono.now += 2.0
        assert gate.admit() is False
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "voice admission refused: media clock 450 ms late (admit_max_clock_late_ms = 200); "
        "2 calls in progress, deliveries stay queued, retrying every 2 s"
    ]
    assert [v.state() for v in reports] == ["refusing"]
    assert (gate.refused, gate.admitted) == (2, 0)


def test_media_cpu_above_the_limit_refuses_and_recovery_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate, reports, mono = _gate(late=None, share=0.93)
    with caplog.at_level(logging.WARNING, "outbound.voice.admission"):
        assert gate.admit() is False
        gate.cpu.value = 0.4  # type: ignore[attr-defined]
        mono.now += 2.0
        assert gate.admit() is True
    assert "media-priority processes use 93% of 2 cores (admit_max_media_cpu = 0.8)" in (
        caplog.records[0].getMessage()
    )
    assert caplog.records[1].getMessage() == (
        "voice admission: taking calls again after 2 s (1 refusals)"
    )
    assert [v.state() for v in reports] == ["refusing", "admitting"]


def test_after_an_admission_the_next_waits_for_the_settle_time() -> None:
    gate, reports, mono = _gate(late=None, share=0.1, settle_seconds=1.0)
    assert gate.admit() is True
    assert gate.admit() is False  # the new call's load has not shown yet
    mono.now += 1.0
    assert gate.admit() is True
    assert [v.state() for v in reports] == ["admitting"]  # settling is no refusal
    assert gate.refused == 0


def test_admission_off_always_admits() -> None:
    gate, _, _ = _gate(late=900.0, share=1.0, enabled=False)
    assert gate.admit() is True
