"""The status read model: one snapshot of the queue, throughput, failures, live processes and
the audit checkpoint, for ``outbound status``, ``/metrics`` and the console's front page."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from outbound.store import status as rows

log = logging.getLogger("outbound.status")

WINDOW = timedelta(minutes=1)  # sends/s are averaged over the last minute
FAILURE_WINDOW = timedelta(hours=1)
HEALTH_WINDOW = timedelta(minutes=5)  # a provider's health: its outcomes over this window
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 3 * HEARTBEAT_SECONDS  # a process missing three beats is not alive


@dataclass
class Snapshot:
    at: datetime
    queue: list[rows.QueueRow] = field(default_factory=list)
    due: list[rows.Due] = field(default_factory=list)
    oldest_due_seconds: float = 0.0
    sends_per_second: list[dict[str, Any]] = field(default_factory=list)
    failures: list[rows.Failure] = field(default_factory=list)
    alive: dict[str, int] = field(default_factory=dict)
    calls_in_progress: int = 0
    providers: list[dict[str, Any]] = field(default_factory=list)
    audit_head: int = 0
    checkpoint_at: datetime | None = None
    checkpoint_age_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        out["checkpoint_at"] = self.checkpoint_at.isoformat() if self.checkpoint_at else None
        for due in out["due"]:
            resume = due["next_resume"]
            due["next_resume"] = resume.isoformat() if resume else None
        return out


def provider_health(sent: list[rows.Rate], failed: list[rows.Failure]) -> list[dict[str, Any]]:
    """Per provider over HEALTH_WINDOW: ``ok``, ``failing`` (half or more of its outcomes were
    failures) or ``idle`` (nothing handed to it)."""
    bad: dict[str, int] = {}
    for f in failed:
        bad[f.channel] = bad.get(f.channel, 0) + f.count
    good = {r.provider: r.count for r in sent}
    out = []
    for provider in sorted(set(good) | set(bad)):
        handed, ko = good.get(provider, 0), bad.get(provider, 0)
        total = max(handed, ko)  # failures are among the handed ones (or failed before)
        health = "idle" if total == 0 else "failing" if ko * 2 >= total else "ok"
        out.append({"provider": provider, "sent": handed, "failed": ko, "health": health})
    return out


def checkpoint_time(path: Path | None) -> datetime | None:
    """When the last checkpoint in ``path`` (``[audit] checkpoint_to``) was signed."""
    if path is None or not path.is_file():
        return None
    try:
        return datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["at"])
    except (ValueError, KeyError, TypeError):
        return None


def read(engine: Engine, now: datetime, checkpoint_file: Path | None = None) -> Snapshot:
    """The snapshot at ``now``, in one read transaction."""
    with engine.connect() as conn:
        return read_on(conn, now, checkpoint_file)


def read_on(conn: Connection, now: datetime, checkpoint_file: Path | None = None) -> Snapshot:
    """The snapshot at ``now`` on an open connection (the console's page transaction)."""
    oldest = rows.oldest_due(conn, now)
    sends = rows.sends_since(conn, now - WINDOW)
    snap = Snapshot(
        at=now,
        queue=rows.queue_by_channel_and_status(conn),
        due=rows.due_and_deferred(conn, now),
        oldest_due_seconds=0.0 if oldest is None else (now - oldest).total_seconds(),
        sends_per_second=[
            {
                "channel": r.channel,
                "provider": r.provider,
                "per_second": round(r.count / WINDOW.total_seconds(), 3),
            }
            for r in sends
        ],
        failures=rows.failures_since(conn, now - FAILURE_WINDOW),
        alive=rows.alive_by_role(conn, rows.stale_after(now, STALE_SECONDS)),
        calls_in_progress=rows.leased(conn, "voice"),
        audit_head=rows.audit_head_seq(conn),
    )
    recent = rows.sends_since(conn, now - HEALTH_WINDOW)
    failed = rows.failures_since(conn, now - HEALTH_WINDOW)
    snap.providers = provider_health(recent, failed)
    snap.checkpoint_at = checkpoint_time(checkpoint_file)
    if snap.checkpoint_at is not None:
        snap.checkpoint_age_seconds = max((now - snap.checkpoint_at).total_seconds(), 0.0)
    return snap


def process_name(role: str) -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{role}"


class Heartbeat:
    """Renews ``<host>:<pid>:<role>`` in the heartbeats table every HEARTBEAT_SECONDS until
    ``stop`` is set; the row is removed when the process stops cleanly."""

    def __init__(self, engine: Engine, role: str, clock: Any, stop: threading.Event) -> None:
        self.engine, self.role, self.clock, self.stop = engine, role, clock, stop
        self.process = process_name(role)
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{role}", daemon=True)

    def start(self) -> Heartbeat:
        """The first beat, then one every HEARTBEAT_SECONDS; a database that cannot be written
        (read-only, down) costs a warning, never the process: the workers report it themselves."""
        try:
            self.beat()
        except Exception:
            log.warning("heartbeat of %s not written", self.process)
        self.thread.start()
        return self

    def beat(self) -> None:
        with self.engine.begin() as conn:
            rows.beat(conn, self.process, self.role, self.clock())

    def _run(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception:  # the database is down: the status shows the process as gone
                log.warning("heartbeat of %s not written", self.process)
        try:
            with self.engine.begin() as conn:
                rows.forget_heartbeat(conn, self.process)
        except Exception:
            log.warning("heartbeat of %s not removed", self.process)
