"""The outbox's storage steps: the delivery queue, leases, decision logs, the reaper.

Notifications and their first deliveries are created by ``outbound.store.notifications``.

A delivery row moves ``queued -> leased -> done`` (or back to ``queued`` when deferred, retried
or reaped). Leases take due rows in batches — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
``BEGIN IMMEDIATE`` write lock on SQLite. What to do with a leased row (the policy re-check, cap
reservations) is decided by ``outbound.services.send.claims``; this module only reads and writes rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, text, update

from outbound.domain.records import pack
from outbound.domain.values import (
    Channel,
    DeliveryStatus,
    Kind,
    NotificationStatus,
)
from outbound.store.tables import deliveries, notifications


@dataclass(frozen=True)
class Claimed:
    """A leased delivery with what sending and recording it needs."""

    delivery_id: int
    notification_id: int
    customer_id: int
    kind: Kind
    channel: Channel
    payload: dict[str, Any]
    rung: int
    attempts: int
    caps: tuple[str, ...]
    #: the subset of ``caps`` this claim reserved (the rest were held from an earlier lease)
    fresh_caps: tuple[str, ...] = ()


# --- leases -------------------------------------------------------------------------------


#: what a claim needs of a leased row
_LEASED = tuple(
    deliveries.c[name]
    for name in ("id", "notification_id", "channel", "rung", "attempts", "caps_reserved")
)


def lease(
    conn: Connection,
    *,
    owner: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    serves: frozenset[Channel] | None,
) -> list[Any]:
    """Lease up to ``limit`` due deliveries (of these channels, or not yet planned)."""
    due = select(deliveries.c.id).where(
        deliveries.c.status == DeliveryStatus.QUEUED.value, deliveries.c.due_at <= now
    )
    if serves is not None:  # unplanned rungs (NULL channel) are anyone's to decide
        due = due.where(
            or_(deliveries.c.channel.is_(None), deliveries.c.channel.in_([c.value for c in serves]))
        )
    due = due.order_by(deliveries.c.due_at).limit(limit).with_for_update(skip_locked=True)
    stmt = (
        update(deliveries)
        .where(deliveries.c.id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryStatus.LEASED.value,
            lease_until=now + lease,
            lease_owner=owner,
            attempts=deliveries.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_LEASED)
    )
    return list(conn.execute(stmt).all())


_FOR_CLAIM = select(*(c for c in notifications.c if c.name != "decisions")).where(
    notifications.c.id.in_(bindparam("b_ids", expanding=True))
)


def notifications_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    """The notifications of a claim batch, without their decision logs."""
    rows = conn.execute(_FOR_CLAIM, {"b_ids": sorted(set(ids))})
    return {r.id: r for r in rows}


def histories(conn: Connection, notification_ids: Sequence[int]) -> dict[int, list[Any]]:
    """(channel, outcome, detail, updated_at) of every delivery of these notifications, oldest
    first."""
    out: dict[int, list[Any]] = defaultdict(list)
    d = deliveries.c
    query = (
        select(d.notification_id, d.channel, d.outcome, d.detail, d.updated_at)
        .where(deliveries.c.notification_id.in_(sorted(set(notification_ids))))
        .order_by(deliveries.c.id)
    )
    for r in conn.execute(query):
        out[r.notification_id].append(r)
    return out


def history(conn: Connection, notification_id: int) -> list[Any]:
    """(channel, outcome, detail, updated_at) of every delivery of one notification, oldest
    first."""
    d = deliveries.c
    return list(
        conn.execute(
            select(d.channel, d.outcome, d.detail, d.updated_at)
            .where(deliveries.c.notification_id == notification_id)
            .order_by(deliveries.c.id)
        ).all()
    )


def requeue(
    conn: Connection,
    delivery_id: int,
    *,
    due: datetime,
    attempts: int,
    now: datetime,
    channel: str | None = None,
    caps: Sequence[str] | None = (),
) -> None:
    """Back to the queue, unleased, due at ``due`` (``caps=None`` clears reservations; the
    default keeps them)."""
    values: dict[str, Any] = {
        "status": DeliveryStatus.QUEUED.value,
        "due_at": due,
        "lease_until": None,
        "lease_owner": None,
        "attempts": attempts,
        "updated_at": now,
    }
    if channel is not None:
        values["channel"] = channel
    if caps is None:
        values["caps_reserved"] = None
    conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))


# Hot-path statements are built once: SQLAlchemy then reuses their compiled form and cache key,
# and a batch of rows goes in one executemany.
_SET_CLAIMED = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(channel=bindparam("b_channel"), caps_reserved=bindparam("b_caps"))
)
_SET_STATUS = (
    update(notifications)
    .where(notifications.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"))
)


def set_claimed(conn: Connection, delivery_id: int, channel: Channel, caps: Sequence[str]) -> None:
    set_claimed_many(conn, [(delivery_id, channel, caps)])


def set_claimed_many(conn: Connection, rows: Sequence[tuple[int, Channel, Sequence[str]]]) -> None:
    """(delivery id, channel, reserved cap keys) of each claimed delivery, in one statement."""
    if rows:
        params = [{"b_id": d, "b_channel": c.value, "b_caps": list(k)} for d, c, k in rows]
        conn.execute(_SET_CLAIMED, params)


DECISIONS_KEPT = 50

# Appended in SQL, so a claim never reads (or rewrites) the log it adds to.
_APPEND_DECISION = {
    "sqlite": text(
        "UPDATE notifications SET decisions = json_insert("
        f"CASE WHEN json_array_length(decisions) >= {DECISIONS_KEPT} "
        "THEN json_remove(decisions, '$[0]') ELSE decisions END, '$[#]', json(:b_record)) "
        "WHERE id = :b_id"
    ),
    "postgresql": text(
        "UPDATE notifications SET decisions = (("
        f"CASE WHEN json_array_length(decisions) >= {DECISIONS_KEPT} "
        "THEN decisions::jsonb - 0 ELSE decisions::jsonb END"
        ") || jsonb_build_array(CAST(:b_record AS jsonb)))::json WHERE id = :b_id"
    ),
}


def log_decision(conn: Connection, note: Any, record: dict[str, Any]) -> None:
    """Append a decision to the notification's log (the last 50 are kept)."""
    append_decisions(conn, [(note.id, record)])


def _record_json(record: dict[str, Any]) -> str:
    """As the column's serializer writes it (``db.compact_json``), packed."""
    return json.dumps(pack(record), separators=(",", ":"), default=str)


def append_decisions(conn: Connection, records: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Append each (notification id, decision record), in order; the last 50 are kept."""
    if records:
        params = [{"b_id": nid, "b_record": _record_json(r)} for nid, r in records]
        conn.execute(_APPEND_DECISION[conn.dialect.name], params)


def finish(
    conn: Connection,
    delivery_id: int,
    status: DeliveryStatus,
    now: datetime,
    detail: dict[str, Any],
    outcome: str | None = None,
    provider_ref: str | None = None,
) -> None:
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status=status.value,
            lease_until=None,
            updated_at=now,
            detail=detail,
            outcome=outcome,
            provider_ref=provider_ref,
        )
    )


def set_notification_status(conn: Connection, nid: int, status: NotificationStatus) -> None:
    set_statuses(conn, [(nid, status)])


def set_statuses(conn: Connection, rows: Sequence[tuple[int, NotificationStatus]]) -> None:
    if rows:
        conn.execute(_SET_STATUS, [{"b_id": n, "b_status": s.value} for n, s in rows])


def reap(conn: Connection, now: datetime) -> int:
    """Expired leases go back to the queue (their cap reservations stay with them)."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.status == DeliveryStatus.LEASED.value, deliveries.c.lease_until < now)
        .values(
            status=DeliveryStatus.QUEUED.value, lease_until=None, lease_owner=None, updated_at=now
        )
    )
    return int(result.rowcount or 0)


def in_flight_or_due(conn: Connection, horizon: datetime, serves: frozenset[Channel]) -> int:
    """Leased deliveries plus queued ones for these channels due before ``horizon``."""
    channels = [c.value for c in serves]
    due = (
        (deliveries.c.status == DeliveryStatus.QUEUED.value)
        & (deliveries.c.due_at <= horizon)
        & or_(deliveries.c.channel.is_(None), deliveries.c.channel.in_(channels))
    )
    leased = deliveries.c.status == DeliveryStatus.LEASED.value
    query = select(func.count()).select_from(deliveries).where(or_(due, leased))
    return int(conn.execute(query).scalar_one())
