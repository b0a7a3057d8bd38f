"""Call recordings: a private directory per dialer, files of mode 0600, killed dialers' swept."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from outbound.voice.rx_files import make_rx_dir, private_file, sweep_stale


def _dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_recording_is_created_private_even_over_a_wider_file(tmp_path: Path) -> None:
    wide = tmp_path / "rx.wav"
    wide.write_bytes(b"old")
    wide.chmod(0o644)
    private_file(wide)
    assert stat.S_IMODE(wide.stat().st_mode) == 0o600 and wide.read_bytes() == b""
    fresh = private_file(tmp_path / "rx2.wav")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_a_dialer_sweeps_the_recordings_of_killed_dialers_at_start_up(tmp_path: Path) -> None:
    killed = tmp_path / f"outbound-rx-{_dead_pid()}-abc123"
    killed.mkdir()
    (killed / "rx0-1.wav").write_bytes(b"a voice")
    running = tmp_path / f"outbound-rx-{os.getppid()}-def456"  # pytest's parent is alive
    running.mkdir()
    old_untagged = tmp_path / "outbound-rx-zz9q"  # an older release's directory, a week old
    old_untagged.mkdir()
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(old_untagged, (week_ago, week_ago))
    fresh_untagged = tmp_path / "outbound-rx-yy8p"
    fresh_untagged.mkdir()
    other = tmp_path / "not-ours"
    other.mkdir()

    mine = make_rx_dir(tmp_path)

    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([running.name, fresh_untagged.name, other.name, mine.name])
    assert mine.name.startswith(f"outbound-rx-{os.getpid()}-")
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700
    assert sweep_stale(tmp_path) == []  # its own directory is never swept
