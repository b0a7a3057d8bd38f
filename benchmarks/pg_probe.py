"""What a PostgreSQL run spends its time on, seen from outside the workers.

* ``Sampler``: a thread that reads ``pg_stat_activity`` for one database every 1/hz s (what each
  client backend is doing: running SQL, waiting for a lock — on which table, and what the
  holder is doing meanwhile — or idle, in or out of a transaction, while its worker runs
  Python) and the CPU time of the worker processes and their backends from ``/proc``.
* ``statements``: ``pg_stat_statements`` of that database (calls, total and mean time), the
  cluster having been started with it preloaded.
* ``MachineCpu``: the share of all CPUs busy (``/proc/stat``), since other work on a shared
  machine bounds what two processes can gain.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

_TICK = os.sysconf("SC_CLK_TCK")

_ACTIVITY = text(
    """
    SELECT a.pid, a.state, a.wait_event_type, a.wait_event, left(a.query, 300) AS query,
           CASE WHEN a.wait_event_type = 'Lock' THEN (
               SELECT string_agg(b.state || '|' || left(b.query, 300), ';;')
               FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))
           ) END AS holders
    FROM pg_stat_activity a
    WHERE a.datname = :db AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
    """
)

_STATEMENTS = text(
    """
    SELECT s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = :db
    ORDER BY s.total_exec_time DESC
    """
)


def label(query: str) -> str:
    """A short name for a statement, by the table it is about."""
    q = " ".join(query.split())
    lowered = q.lower()
    if "audit_head" in lowered:  # the chain's one row: taken FOR UPDATE, then moved on
        return "audit head lock" if "for update" in lowered else "audit head update"
    for table, name in (
        ("audit_events", "audit insert"),
        ("cap_counters", "cap counters"),
        ("log_sends", "log sink"),
        ("skip locked", "lease (SKIP LOCKED)"),
    ):
        if table in lowered:
            return name
    if lowered in ("commit", "begin", "rollback", "select 1", "select $1"):
        return lowered.upper()
    match = re.match(
        r"(select|update|insert into|delete from)\b.*?\b(?:from|into)?\s*(\w+)", q, re.I
    )
    return f"{match.group(1).upper()} {match.group(2)}" if match else q[:60]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a live process, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


@dataclass
class Sampler:
    """Samples ``database``'s client backends and the CPU of ``pids`` until ``stop()``."""

    admin: Engine
    database: str
    pids: list[int]
    hz: float = 10.0
    samples: int = 0
    states: Counter[str] = field(default_factory=Counter)
    holders: Counter[str] = field(default_factory=Counter)
    cpu: dict[int, float] = field(default_factory=dict)  # last seen CPU seconds per pid
    base: dict[int, float] = field(default_factory=dict)  # CPU seconds when first seen
    backends: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._read_cpu()  # the workers' boot (imports, config) is not the run's
        self._thread = threading.Thread(target=self._loop, name="pg-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Idempotent; the last CPU reading is taken at the first call."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._read_cpu()

    def _loop(self) -> None:
        with self.admin.connect() as conn:
            while not self._stop.wait(1 / self.hz):
                rows = conn.execute(_ACTIVITY, {"db": self.database}).all()
                conn.rollback()  # a fresh snapshot of pg_stat_activity next time
                self.samples += 1
                for row in rows:
                    self.backends.add(int(row.pid))
                    self.states[self._state(row)] += 1
                    if row.holders:
                        for holder in str(row.holders).split(";;"):
                            state, _, query = holder.partition("|")
                            self.holders[f"{label(row.query)} ← {state}: {label(query)}"] += 1
                self._read_cpu()

    def _state(self, row: Any) -> str:
        if row.state == "idle in transaction":
            return f"idle in transaction (after {label(row.query)})"
        if row.state != "active":
            return str(row.state)
        if row.wait_event_type is None:
            return "running SQL"
        if row.wait_event_type == "Lock":
            return f"lock wait: {label(row.query)} ({row.wait_event})"
        return f"{row.wait_event_type}:{row.wait_event} ({label(row.query)})"

    def _read_cpu(self) -> None:
        for pid in [*self.pids, *self.backends]:
            seconds = cpu_seconds(pid)
            if seconds is not None:
                self.cpu[pid] = seconds
                self.base.setdefault(pid, seconds)

    def summary(self) -> dict[str, Any]:
        """Mean number of client backends in each state (like active-session history: 0.25 =
        one backend a quarter of the time), and CPU seconds."""
        n = self.samples or 1
        return {
            "samples": self.samples,
            "backend_states": {k: round(c / n, 3) for k, c in self.states.most_common()},
            "lock_waits_by_holder": {k: round(c / n, 3) for k, c in self.holders.most_common(8)},
            "worker_cpu_seconds": [round(self._used(p), 2) for p in self.pids],
            "backend_cpu_seconds": round(sum(self._used(p) for p in self.backends), 2),
        }

    def _used(self, pid: int) -> float:
        return self.cpu.get(pid, 0.0) - self.base.get(pid, 0.0)


def statements(
    admin: Engine, database: str, top: int = 14
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The run's statements by total execution time, and the totals over all of them."""
    with admin.connect() as conn:
        rows = conn.execute(_STATEMENTS, {"db": database}).all()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:  # several texts can share a label (e.g. two claim-side SELECTs)
        entry = out.setdefault(
            label(row.query), {"statement": label(row.query), "calls": 0, "total_ms": 0.0}
        )
        entry["calls"] += int(row.calls)
        entry["total_ms"] += float(row.total_exec_time)
        entry.setdefault("text", " ".join(str(row.query).split())[:160])
    ranked = sorted(out.values(), key=lambda e: -e["total_ms"])
    totals = {
        "calls": float(sum(e["calls"] for e in ranked)),
        "total_ms": round(sum(e["total_ms"] for e in ranked), 1),
    }
    for entry in ranked:
        entry["mean_ms"] = round(entry["total_ms"] / max(entry["calls"], 1), 3)
        entry["total_ms"] = round(entry["total_ms"], 1)
    kept = ranked[:top] + [e for e in ranked[top:] if e["statement"].startswith("audit head")]
    return kept, totals


def reset_statements(admin: Engine) -> bool:
    """Zero pg_stat_statements; False when the extension is not there."""
    try:
        with admin.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            conn.execute(text("SELECT pg_stat_statements_reset()"))
    except Exception:  # not preloaded: the run goes on without statement statistics
        return False
    return True


class MachineCpu:
    """Busy share of all CPUs between ``__init__`` and ``busy()`` (everyone's work)."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values[:8]), idle

    def busy(self) -> float:
        total, idle = self._read()
        spent = total - self._start[0]
        return round(100 * (1 - (idle - self._start[1]) / spent), 1) if spent else 0.0
