"""Queries of the status read model (``outbound status``, ``/metrics``, the console's front
page): the queue by channel and status, what is due and deferred, recent sends and failures,
heartbeats of live processes, the audit head."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select, update

from outbound.store.ledger import insert_ignore
from outbound.store.ops_tables import heartbeats
from outbound.store.tables import audit_head, deliveries

#: statuses still owed work: queued (due or deferred), leased (being sent), sent (awaiting receipt)
OPEN = ("queued", "leased", "sent")


@dataclass(frozen=True)
class QueueRow:
    channel: str
    status: str
    count: int


@dataclass(frozen=True)
class Due:
    channel: str
    due_now: int
    deferred: int
    next_resume: datetime | None  # the earliest due time of the deferred ones


@dataclass(frozen=True)
class Rate:
    channel: str
    provider: str
    count: int


@dataclass(frozen=True)
class Failure:
    channel: str
    reason: str
    count: int


def queue_by_channel_and_status(conn: Connection) -> list[QueueRow]:
    """Open deliveries (queued, leased, sent) by channel and status."""
    channel = func.coalesce(deliveries.c.channel, "any")
    rows = conn.execute(
        select(channel, deliveries.c.status, func.count())
        .where(deliveries.c.status.in_(OPEN))
        .group_by(channel, deliveries.c.status)
        .order_by(channel, deliveries.c.status)
    )
    return [QueueRow(str(c), str(s), int(n)) for c, s, n in rows]


def due_and_deferred(conn: Connection, now: datetime) -> list[Due]:
    """Queued deliveries per channel: due now, deferred to later, and the next resume time."""
    channel = func.coalesce(deliveries.c.channel, "any")
    queued = deliveries.c.status == "queued"
    due_now = conn.execute(
        select(channel, func.count()).where(queued, deliveries.c.due_at <= now).group_by(channel)
    ).all()
    later = conn.execute(
        select(channel, func.count(), func.min(deliveries.c.due_at))
        .where(queued, deliveries.c.due_at > now)
        .group_by(channel)
    ).all()
    out: dict[str, Due] = {str(c): Due(str(c), int(n), 0, None) for c, n in due_now}
    for c, n, first in later:
        before = out.get(str(c), Due(str(c), 0, 0, None))
        out[str(c)] = Due(str(c), before.due_now, int(n), first)
    return [out[c] for c in sorted(out)]


def oldest_due(conn: Connection, now: datetime) -> datetime | None:
    """The due time of the oldest queued delivery that is due now (None: nothing is due)."""
    value = conn.execute(
        select(func.min(deliveries.c.due_at)).where(
            deliveries.c.status == "queued", deliveries.c.due_at <= now
        )
    ).scalar()
    return value if isinstance(value, datetime) else None


def sends_since(conn: Connection, since: datetime) -> list[Rate]:
    """Deliveries handed to a provider since ``since`` (sent, or already done), per channel and
    provider (``detail.provider`` where the adapter names one, else the channel's default)."""
    rows = conn.execute(
        select(deliveries.c.channel, func.count())
        .where(deliveries.c.status.in_(("sent", "done")), deliveries.c.updated_at >= since)
        .group_by(deliveries.c.channel)
        .order_by(deliveries.c.channel)
    )
    return [Rate(str(c), str(c), int(n)) for c, n in rows]


def failures_since(conn: Connection, since: datetime) -> list[Failure]:
    """Deliveries that ended badly since ``since``, by channel and outcome."""
    bad = ("failed", "rejected", "no_answer", "busy")
    rows = conn.execute(
        select(deliveries.c.channel, deliveries.c.outcome, func.count())
        .where(deliveries.c.outcome.in_(bad), deliveries.c.updated_at >= since)
        .group_by(deliveries.c.channel, deliveries.c.outcome)
        .order_by(func.count().desc())
    )
    return [Failure(str(c), str(o), int(n)) for c, o, n in rows]


def leased(conn: Connection, channel: str) -> int:
    """Deliveries of ``channel`` being worked right now (for voice: calls in progress)."""
    value = conn.execute(
        select(func.count()).where(deliveries.c.status == "leased", deliveries.c.channel == channel)
    ).scalar()
    return int(value or 0)


def audit_head_seq(conn: Connection) -> int:
    value = conn.execute(select(audit_head.c.seq)).scalar()
    return int(value or 0)


def beat(conn: Connection, process: str, role: str, now: datetime) -> None:
    """Renew this process's heartbeat (the row is created by the first beat)."""
    insert_ignore(
        conn,
        heartbeats,
        [{"process": process, "role": role, "started_at": now, "seen_at": now}],
        ["process"],
    )
    conn.execute(update(heartbeats).where(heartbeats.c.process == process).values(seen_at=now))


def forget_heartbeat(conn: Connection, process: str) -> None:
    conn.execute(delete(heartbeats).where(heartbeats.c.process == process))


def alive_by_role(conn: Connection, fresh_after: datetime) -> dict[str, int]:
    """Processes whose heartbeat is newer than ``fresh_after``, counted by role."""
    rows = conn.execute(
        select(heartbeats.c.role, func.count())
        .where(heartbeats.c.seen_at >= fresh_after)
        .group_by(heartbeats.c.role)
    )
    return {str(r): int(n) for r, n in rows}


def stale_after(now: datetime, seconds: float) -> datetime:
    return now - timedelta(seconds=seconds)
