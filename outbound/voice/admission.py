"""Admission control for a dialer: a new call only while the media clock keeps time and the CPU
has room for it. Overload must yield fewer calls, never deaf ones.

Processes at ``[voice] media_nice`` compete with each other (production: many dialers on one
host; on a test machine also the loopback callees). When they want more CPU than there is, the
conference bridge's clock ticks late, audio reaches the recogniser in bursts or not at all, and
a customer's "yes" is recorded as ``no_input``. So before a call slot claims a delivery, the
dialer asks ``Admission.admit``: it measures

- the **media clock**: how late the conference bridge's frames are against the wall clock.
  pjmedia's WAV writer (C, on the bridge's clock thread) appends the null sound port's frames to
  a probe file; each write's modification time (set by the kernel at the write) against the
  audio it completes gives the clock's lateness with no Python on the media thread
  (``MediaClock``);
- the **CPU headroom**: the share of all cores used, over the last seconds, by processes at the
  media priority or above — the ones a media clock competes with (``CpuMeter``); optionally the
  load average per core (off by default: on a host that also runs niced batch work it counts
  work that never delays the media clock).

A refusal leaves the delivery queued (unclaimed: another dialer with room may take it) and the
slot asks again after ``retry_seconds``; after an admission the next one waits ``settle_seconds``
so the measurement sees the new call's load before a further call is added.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("outbound.voice.admission")

#: pjmedia's WAV writer buffers 4,000 bytes and writes whole frames: 3,840-byte blocks at 8 and
#: 16 kHz (6 frames of 20 ms at 16 kHz); pjlib's file I/O (stdio) then writes full 4 KiB pages.
WRITER_BUFFER = 4000
WAV_HEADER = 44
#: a probe file is replaced after this many audio seconds (16 kHz: 1.9 MB in /dev/shm)
PROBE_SECONDS = 60.0
#: how often the CPU meter rereads /proc (a scan costs ~10 ms of one core)
CPU_SAMPLE_SECONDS = 1.0
#: while admission stays refused, the warning is repeated this often (one line, not one per slot)
REPEAT_WARNING_SECONDS = 60.0


@dataclass(frozen=True)
class AdmissionLimits:
    """``[voice] admit_*``: when a dialer may take one more call."""

    enabled: bool = True
    #: the bridge's frames may be this late against the wall clock (worst over ``window``)
    max_clock_late_ms: float = 200.0
    #: processes at media priority or above may use this share of all cores (0..1)
    max_media_cpu: float = 0.8
    #: 1-minute load average per core above which no call is taken (0 = not checked)
    max_load_per_core: float = 0.0
    #: a refused slot asks again after this long
    retry_seconds: float = 2.0
    #: after an admission, the next one waits this long (the new call's load shows by then)
    settle_seconds: float = 1.0
    #: the measurement window (seconds) of the media clock and the CPU share
    window_seconds: float = 5.0


class MediaClock:
    """How late the conference bridge's clock runs, from the writes of the probe recorder.

    pjmedia writes the probe in blocks of whole frames; the n-th block completes audio second
    ``n * block / byte_rate``. Its write time minus that audio time is constant for a clock that
    keeps time; a late tick shows as a larger difference. Lateness is the difference's rise over
    the lowest one in the window, and also how overdue the next write is right now (a clock
    that stopped writes nothing). Thread safe: the polling thread notes, any thread reads.
    """

    def __init__(self, rate: int, window: float = 5.0, *, wall: Callable[[], float] = time.time):
        frame = rate // 50 * 2  # 20 ms of 16-bit mono
        self.block = WRITER_BUFFER // frame * frame
        self.byte_rate = rate * 2
        self.window = window
        self._wall = wall
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque()  # (write time, offset)
        self._size = 0
        self._last_late: float | None = None  # the previous probe file's last figure

    def restart(self) -> None:
        """A new probe file: audio starts at zero again (its first write is a new baseline)."""
        with self._lock:
            self._last_late = self._late_locked(self._wall()) if self._samples else self._last_late
            self._samples.clear()
            self._size = 0

    def audio_at(self, size: int) -> float:
        """Audio seconds complete when the probe file reached ``size`` bytes."""
        blocks = math.ceil(max(0, size - WAV_HEADER) / self.block)
        return blocks * self.block / self.byte_rate

    def note(self, size: int, mtime: float) -> None:
        """The probe file's size and modification time (epoch seconds), read by the poller."""
        with self._lock:
            if size <= self._size:
                return
            self._size = size
            if size <= WAV_HEADER:
                return
            self._samples.append((mtime, mtime - self.audio_at(size)))
            while self._samples and self._samples[0][0] < mtime - self.window:
                self._samples.popleft()

    @property
    def audio_seconds(self) -> float:
        with self._lock:
            return self.audio_at(self._size)

    def late_ms(self) -> float | None:
        """Milliseconds the bridge's clock ran late (worst in the window); None = no data yet."""
        with self._lock:
            if len(self._samples) < 2:
                return self._last_late
            return self._late_locked(self._wall())

    def _late_locked(self, now: float) -> float:
        base = min(off for _, off in self._samples)
        worst = max(off for _, off in self._samples) - base
        # the next block is due when the audio after the last write has played; a page of
        # stdio buffering may hold it back one block more
        due = base + self.audio_at(self._size) + 2 * self.block / self.byte_rate
        overdue = now - due
        return round(max(worst, overdue, 0.0) * 1000, 1)


class ClockProbe:
    """The probe file of a ``MediaClock``: the engine records the bridge's clock into it (C), the
    polling thread notes its writes (``sample``) and replaces it every ``PROBE_SECONDS``."""

    def __init__(self, record: Callable[[Path], None], clock: MediaClock) -> None:
        self.record, self.clock = record, clock
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
        self.dir = Path(tempfile.mkdtemp(prefix="outbound-clock-", dir=base))
        self.path = self.dir / "clock-0.wav"
        self._n = 0
        self.record(self.path)

    def sample(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        self.clock.note(st.st_size, st.st_mtime_ns / 1e9)
        if self.clock.audio_seconds >= PROBE_SECONDS:
            old, self._n = self.path, self._n + 1
            self.path = self.dir / f"clock-{self._n}.wav"
            self.record(self.path)
            self.clock.restart()
            old.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class _ProcTimes:
    at: float
    ticks: dict[tuple[int, int], int]  # (pid, start time) -> user + system ticks


class CpuMeter:
    """The share of all cores used by processes at ``max_nice`` or higher priority, measured over
    the time since the previous reading (at least ``CPU_SAMPLE_SECONDS``); /proc on Linux."""

    def __init__(
        self,
        max_nice: int,
        *,
        proc: Path = Path("/proc"),
        cores: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        window: float = 5.0,
    ) -> None:
        self.max_nice = max_nice
        self.proc = proc
        self.cores = cores or os.cpu_count() or 1
        self.window = window
        self._clock = clock
        self._tick = float(os.sysconf("SC_CLK_TCK"))
        self._lock = threading.Lock()
        self._history: deque[_ProcTimes] = deque()
        self._share: float | None = None

    def _scan(self) -> dict[tuple[int, int], int]:
        out: dict[tuple[int, int], int] = {}
        try:
            entries = list(os.scandir(self.proc))
        except OSError:
            return out
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(os.path.join(entry.path, "stat"), "rb") as f:
                    raw = f.read()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            fields = raw[raw.rfind(b")") + 2 :].split()
            try:
                nice, start = int(fields[16]), int(fields[19])
                if nice <= self.max_nice:
                    out[(int(entry.name), start)] = int(fields[11]) + int(fields[12])
            except (IndexError, ValueError):
                continue
        return out

    def share(self) -> float | None:
        """CPU used by media-priority processes / (cores x seconds), over up to ``window`` s."""
        with self._lock:
            now = self._clock()
            if self._history and now - self._history[-1].at < CPU_SAMPLE_SECONDS:
                return self._share
            self._history.append(_ProcTimes(now, self._scan()))
            while len(self._history) > 2 and now - self._history[1].at >= self.window:
                self._history.popleft()
            first, last = self._history[0], self._history[-1]
            if last.at - first.at <= 0:
                return self._share
            used = sum(
                ticks - first.ticks[key] for key, ticks in last.ticks.items() if key in first.ticks
            )
            seconds = used / self._tick
            self._share = round(max(0.0, seconds / ((last.at - first.at) * self.cores)), 3)
            return self._share

    def load_per_core(self) -> float:
        try:
            one = float((self.proc / "loadavg").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        return round(one / self.cores, 2)


@dataclass(frozen=True)
class Reading:
    """What an admission decision looked at."""

    clock_late_ms: float | None
    media_cpu: float | None
    load_per_core: float
    calls: int


@dataclass(frozen=True)
class Verdict:
    admit: bool
    reason: str  # why not ("" when admitted)
    reading: Reading
    at: float  # wall clock (epoch seconds)

    def state(self) -> str:
        return "admitting" if self.admit else "refusing"


@dataclass
class Admission:
    """Asked by each call slot before it claims a delivery; one per dialer process."""

    limits: AdmissionLimits
    clock: MediaClock | None
    cpu: CpuMeter
    calls: Callable[[], int]  # calls in progress in this dialer
    #: told every change of state and, while refusing, at most every REPEAT_WARNING_SECONDS
    report: Callable[[Verdict], None] | None = None
    #: the media clock's probe file (None: the clock is fed some other way, or not at all)
    probe: ClockProbe | None = None
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    admitted: int = 0
    refused: int = 0
    last: Verdict | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _not_before: float = 0.0
    _refusing_since: float = 0.0
    _warned_at: float = 0.0

    def tick(self) -> None:
        """On the thread that polls the SIP engine, after each poll: note the clock's writes."""
        if self.probe is not None:
            self.probe.sample()

    def close(self) -> None:
        if self.probe is not None:
            self.probe.close()

    def reading(self) -> Reading:
        return Reading(
            self.clock.late_ms() if self.clock is not None else None,
            self.cpu.share(),
            self.cpu.load_per_core() if self.limits.max_load_per_core > 0 else 0.0,
            self.calls(),
        )

    def why_not(self, r: Reading) -> str:
        """The first limit ``r`` exceeds, in words ("" = none)."""
        lim = self.limits
        if r.clock_late_ms is not None and r.clock_late_ms > lim.max_clock_late_ms:
            return (
                f"media clock {r.clock_late_ms:.0f} ms late "
                f"(admit_max_clock_late_ms = {lim.max_clock_late_ms:g})"
            )
        if r.media_cpu is not None and r.media_cpu > lim.max_media_cpu:
            return (
                f"media-priority processes use {r.media_cpu:.0%} of {self.cpu.cores} cores "
                f"(admit_max_media_cpu = {lim.max_media_cpu:g})"
            )
        if lim.max_load_per_core > 0 and r.load_per_core > lim.max_load_per_core:
            return (
                f"load average {r.load_per_core:g} per core "
                f"(admit_max_load_per_core = {lim.max_load_per_core:g})"
            )
        return ""

    def admit(self) -> bool:
        """True: take one call now. False: leave the queue alone and ask again later."""
        if not self.limits.enabled:
            return True
        with self._lock:
            now = self.monotonic()
            if now < self._not_before:
                return False
            reading = self.reading()
            reason = self.why_not(reading)
            verdict = Verdict(not reason, reason, reading, self.wall())
            changed = self.last is None or self.last.admit != verdict.admit
            self.last = verdict
            if verdict.admit:
                self.admitted += 1
                self._not_before = now + self.limits.settle_seconds
                if changed and self._refusing_since:
                    log.warning(
                        "voice admission: taking calls again after %.0f s (%d refusals)",
                        now - self._refusing_since,
                        self.refused,
                    )
                    self._refusing_since = 0.0
            else:
                self.refused += 1
                self._not_before = now + self.limits.retry_seconds
                if changed:
                    self._refusing_since = now
                if changed or now - self._warned_at >= REPEAT_WARNING_SECONDS:
                    self._warned_at = now
                    log.warning(
                        "voice admission refused: %s; %d calls in progress, deliveries stay "
                        "queued, retrying every %g s",
                        reason,
                        reading.calls,
                        self.limits.retry_seconds,
                    )
                    changed = True
        if changed and self.report is not None:
            self.report(verdict)
        return verdict.admit
