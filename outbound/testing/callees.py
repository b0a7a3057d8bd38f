"""Start and read pjsua2 callee processes (``outbound.testing.callee``); make their audio.

Used by the voice tests, ``outbound demo`` and benchmarks. Audio checks are plain Python over
16-bit mono WAVs: 20 ms RMS envelopes, speech-frame counts and the best normalized
cross-correlation of two envelopes over a range of lags. ``with_beep`` appends a voicemail beep
(a pure tone) to a greeting, as answering machines do before they record.
"""

from __future__ import annotations

import array
import io
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import miniaudio

CALLEE = Path(__file__).with_name("callee.py")
FRAME_S = 0.02
VOICED_RMS = 500.0


@dataclass
class Callee:
    """A running callee process: its SIP port, its event log and its recordings."""

    proc: subprocess.Popen[str]
    port: int
    status: Path
    record_dir: Path
    user: str
    _events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.port}"

    def events(self) -> list[dict[str, Any]]:
        if self.status.exists():
            lines = self.status.read_text(encoding="utf-8").splitlines()
            self._events = [json.loads(line) for line in lines if line.strip()]
        return self._events

    def calls_to(self, user: str) -> list[int]:
        return [e["call"] for e in self.events() if e["event"] == "incoming" and e["user"] == user]

    def event(self, call: int, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events() if e["call"] == call and e["event"] == name), None)

    def recording(self, call: int) -> Path:
        found = self.event(call, "recording")
        assert found is not None, f"call {call} was never recorded"
        return Path(found["path"])

    def stop(self) -> None:
        """SIGTERM (the callee hangs up and closes its recordings), then kill if it lingers.

        The wait is generous: on a busy machine closing the recordings (their WAV headers are
        written then) can take seconds, and a kill would leave them unreadable."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_callee(
    workdir: Path, name: str, scripts: dict[str, Any], rtp_port: int, max_seconds: float = 120
) -> Callee:
    workdir.mkdir(parents=True, exist_ok=True)
    record_dir = workdir / f"rec-{name}"
    record_dir.mkdir(exist_ok=True)
    status = workdir / f"{name}.jsonl"
    cfg = {
        "status": str(status),
        "record_dir": str(record_dir),
        "user": name,
        "scripts": scripts,
        "rtp_port": rtp_port,
        "max_seconds": max_seconds,
    }
    cfg_path = workdir / f"{name}.json"
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False))
    # A start that prints no READY in time is retried (the robot is not involved yet); most such
    # "stalls" on busy machines were READY lines lost in a read buffer (see ``_spawn``).
    for attempt in range(3):
        proc, line = _spawn(workdir, name, cfg_path, deadline_s=30)
        if line.startswith("READY "):
            break
        errors = (workdir / f"{name}.err").read_text(errors="replace")[-2000:]
        if proc.returncode not in (-9, None) or attempt == 2:
            raise RuntimeError(
                f"callee {name} did not start (exit {proc.returncode}): {line!r} {errors}"
            )
    return Callee(proc, int(line.split()[1]), status, record_dir, name)


def _spawn(
    workdir: Path, name: str, cfg_path: Path, deadline_s: float
) -> tuple[subprocess.Popen[str], str]:
    """Start the callee; its READY line, or "" (then the process is killed and reaped)."""
    with open(workdir / f"{name}.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(CALLEE), str(cfg_path)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    # Read the pipe's bytes, never ``readline()`` after ``select()``: pjlib logs lines before
    # READY, and a buffered readline takes them all from the pipe at once, returns the first and
    # keeps READY in Python's buffer, where select() cannot see it (a busy machine makes the
    # lines arrive together; the start then "stalled" and was retried until it failed).
    fd, seen = proc.stdout.fileno(), b""
    deadline, line = time.monotonic() + deadline_s, ""
    while not line and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if ready and not chunk:  # EOF: the callee died
            break
        seen += chunk
        found = [x for x in seen.decode(errors="replace").splitlines() if x.startswith("READY ")]
        line = found[0] if found else ""
    if not line.startswith("READY "):
        proc.kill()
        proc.wait(5)
        return proc, ""
    return proc, line


def espeak_pcm(text: str, voice: str = "ko", speed: int = 175, rate: int = 16000) -> bytes:
    """espeak-ng speech as 16-bit mono PCM at ``rate``."""
    raw = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    pcm = miniaudio.decode(
        raw, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=rate
    )
    return bytes(pcm.samples.tobytes())


def tone_pcm(hz: float, seconds: float, rate: int = 16000, amplitude: int = 12000) -> bytes:
    """A pure tone (a voicemail beep) as 16-bit mono PCM."""
    n = int(rate * seconds)
    wave_ = (int(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    return array.array("h", wave_).tobytes()


def silence_pcm(seconds: float, rate: int = 16000) -> bytes:
    return b"\0\0" * int(rate * seconds)


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def espeak_wav(path: Path, text: str, voice: str = "ko", speed: int = 175) -> Path:
    """espeak-ng speech as a 16 kHz 16-bit mono WAV (what the callee plays into the call)."""
    pad = silence_pcm(0.2)
    return write_wav(path, pad + espeak_pcm(text, voice, speed) + pad)


def with_beep(
    greeting: Path, out: Path, *, hz: float = 1000.0, seconds: float = 0.5, gap: float = 0.4
) -> Path:
    """``greeting`` (16-bit mono WAV), ``gap`` seconds of silence, then a ``hz`` beep."""
    with wave.open(str(greeting), "rb") as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    beep = tone_pcm(hz, seconds, rate)
    return write_wav(out, pcm + silence_pcm(gap, rate) + beep + silence_pcm(0.2, rate), rate)


def envelope(path: Path) -> list[float]:
    """RMS of each 20 ms frame of a 16-bit mono WAV."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    if not data:
        return []
    pcm = miniaudio.decode(
        _wav_bytes(data, rate),
        output_format=miniaudio.SampleFormat.SIGNED16,
        nchannels=1,
        sample_rate=16000,
    )
    samples = array.array("h", pcm.samples.tobytes())
    n = int(16000 * FRAME_S)
    return [
        (sum(s * s for s in samples[i : i + n]) / n) ** 0.5
        for i in range(0, len(samples) - n + 1, n)
    ]


def _wav_bytes(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def voiced_seconds(env: list[float], start_s: float = 0.0, end_s: float | None = None) -> float:
    lo = int(start_s / FRAME_S)
    hi = len(env) if end_s is None else int(end_s / FRAME_S)
    return sum(FRAME_S for v in env[lo:hi] if v >= VOICED_RMS)


def best_correlation(recorded: list[float], reference: list[float], max_lag_s: float) -> float:
    """Max over lags of the Pearson correlation of ``reference`` with a window of ``recorded``."""
    m = len(reference)
    mean_r = sum(reference) / m
    ref = [v - mean_r for v in reference]
    ref_norm = sum(v * v for v in ref) ** 0.5
    best = -1.0
    for lag in range(int(max_lag_s / FRAME_S) + 1):
        window = recorded[lag : lag + m]
        if len(window) < m:
            break
        mean_w = sum(window) / m
        win = [v - mean_w for v in window]
        norm = sum(v * v for v in win) ** 0.5 * ref_norm
        if norm:
            best = max(best, sum(a * b for a, b in zip(win, ref, strict=True)) / norm)
    return best
