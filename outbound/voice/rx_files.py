"""Where a dialer keeps the callee's audio while a call runs: private, and swept when stale.

Each dialer process records into its own directory ``outbound-rx-<pid>-<random>`` (mode 0700)
on ``/dev/shm`` where the machine has it, each recording a file of mode 0600 (it is a person's
voice). A dialer removes its directory when it shuts down; one that was killed cannot, so every
dialer sweeps at start-up the directories of dialers that are no longer running.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("outbound.voice.rx_files")
PREFIX = "outbound-rx-"
_TAGGED = re.compile(r"^outbound-rx-(\d+)-")
#: a directory of a release that did not tag it with its pid is stale after this long
UNTAGGED_STALE_SECONDS = 24 * 3600.0


def rx_base() -> Path | None:
    """``/dev/shm`` where it is writable (received audio goes through RAM), else the temp dir."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def make_rx_dir(base: Path | None = None) -> Path:
    """This process's recording directory (mode 0700), after sweeping stale ones."""
    where = base if base is not None else rx_base()
    sweep_stale(Path(where) if where is not None else Path(tempfile.gettempdir()))
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=where))


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 (before a recorder opens it for writing)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # also when it existed with a wider mode
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_stale(base: Path, now: float | None = None) -> list[Path]:
    """Remove the recording directories of dialers that are gone; returns what was removed.

    A directory tagged with a pid is stale when no process has that pid; an untagged one (an
    older release) when nothing in it changed for ``UNTAGGED_STALE_SECONDS``."""
    removed: list[Path] = []
    moment = time.time() if now is None else now
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            tagged = _TAGGED.match(entry.name)
            if tagged:
                stale = int(tagged.group(1)) != os.getpid() and not _alive(int(tagged.group(1)))
            else:
                newest = max([entry.stat().st_mtime, *(f.stat().st_mtime for f in entry.iterdir())])
                stale = moment - newest > UNTAGGED_STALE_SECONDS
        except OSError:
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.warning("removed %d stale call recording directories in %s", len(removed), base)
    return removed
