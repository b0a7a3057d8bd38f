"""py-spy on a worker process: where a batch's wall time goes, stage by stage.

Recorded with ``--idle``, so a thread blocked on PostgreSQL's socket is sampled too: each sample
of the dispatch thread (the one in ``Dispatcher.run_once``) is one 1/RATE-second slice of its
wall time, put in a stage of the batch and marked as waiting for the database (the leaf frame
is psycopg's ``Connection.wait``, blocked on the socket) or running Python. The send stage runs
in per-channel threads; their samples are counted apart. The hottest Python frames (self time,
not waiting) are listed too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 100  # samples per second

#: (stage, frames that must all be on the stack), first match wins; frames are "func (file".
_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("record: audit append", ("_record_all (", "append (outbound/store/audit.py")),
    ("record: commit", ("_record_all (", "commit")),
    ("record: outcome rows", ("_record_all (",)),
    ("claim: audit append", ("claim (", "append (outbound/store/audit.py")),
    ("claim: lease", ("claim (", "lease (outbound/store/outbox.py")),
    ("claim: snapshots", ("claim (", "load_snapshots (")),
    ("claim: cap reservations", ("claim (", "reserve (outbound/store/ledger.py")),
    ("claim: policy re-check", ("claim (", "_recheck (")),
    ("claim: decision/claim rows", ("claim (", "flush (outbound/services/send/claims.py")),
    ("claim: notifications, histories", ("claim (",)),
    ("claim: messages (recipients, render)", ("_messages (",)),
    ("send (log sink, other threads)", ("_send (",)),
    ("reap (and the start gate)", ("_maybe_reap (",)),
    ("idle check", ("idle (outbound/services/send/dispatch.py",)),
    ("claim: commit", ("run_once (", "commit")),
)


def start(pid: int, out: Path) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "--pid", str(pid), "--idle", "--rate", str(RATE)]
    command += ["--format", "raw", "--output", str(out), "--nonblocking", "--duration", "900"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stacks(raw: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stack] += int(n)
    return counts


def _waiting(frames: list[str]) -> bool:
    return frames[-1].startswith("Connection.wait (psycopg/")


def _stage(stack: str) -> str:
    for name, needles in _STAGES:
        if all(n in stack for n in needles):
            return name
    return "other"


def stages(raw: Path) -> dict[str, Any]:
    """Seconds per stage of the dispatch thread (and how much of it waits for PostgreSQL)."""
    wall: Counter[str] = Counter()
    db: Counter[str] = Counter()
    sender: Counter[str] = Counter()
    hot: Counter[str] = Counter()
    for stack, n in _stacks(raw).items():
        frames = stack.split(";")
        if "run_once (" in stack:
            stage = _stage(stack)
            wall[stage] += n
            if _waiting(frames):
                db[stage] += n
        elif "send_all (" in stack:
            sender["db" if _waiting(frames) else "python"] += n
        else:
            continue
        if not _waiting(frames) and "Thread.join" not in frames[-1]:
            hot[_short(frames[-1])] += n
    total = sum(wall.values()) or 1
    return {
        "dispatch_seconds": round(total / RATE, 2),
        "stages": [
            {
                "stage": stage,
                "seconds": round(n / RATE, 2),
                "share": round(100 * n / total, 1),
                "waiting_for_db_seconds": round(db[stage] / RATE, 2),
            }
            for stage, n in wall.most_common()
        ],
        "db_wait_share": round(100 * sum(db.values()) / total, 1),
        "send_threads_seconds": {k: round(v / RATE, 2) for k, v in sender.items()},
        "hottest_python": [(name, round(n / RATE, 2)) for name, n in hot.most_common(12)],
    }


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` → ``func (module.py)``."""
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    return f"{match.group(1)} ({Path(match.group(2)).name})" if match else frame
