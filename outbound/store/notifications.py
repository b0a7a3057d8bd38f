"""Creating notifications: a plan's rows — the notifications, their first deliveries and their
``notification.created`` audit events — written in one call (``commit_plan``).

The send path reads what it needs in one call (``store.snapshots.send_view``), decides with
pure code and writes here once, in the caller's transaction. A dedupe key a concurrent twin already wrote is
skipped (insert-ignore) and answered with the twin's id.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.records import pack
from outbound.domain.values import (
    Channel,
    Decision,
    DeliveryStatus,
    Kind,
    NotificationStatus,
    Purpose,
)
from outbound.store import audit
from outbound.store.ledger import insert_ignore_for
from outbound.store.snapshots import existing
from outbound.store.tables import deliveries, notifications


@dataclass(frozen=True)
class NewNotification:
    kind: Kind
    purpose: Purpose
    customer_id: int
    payload: dict[str, Any]
    dedupe_key: str
    expires_at: datetime | None
    source: str
    campaign_id: int | None = None
    channels: tuple[Channel, ...] | None = None  # replaces the customer's preference


@dataclass(frozen=True)
class Enqueued:
    notification_id: int
    created: bool
    dedupe_key: str
    decision: Decision | None


@dataclass(frozen=True)
class Planned:
    """One notification as decided: its row's status and first decision record, its first
    rung (channel and due time; None when suppressed) and the audit event's data."""

    item: NewNotification
    status: NotificationStatus
    record: dict[str, Any]
    first_rung: tuple[Channel | None, datetime] | None
    event_data: dict[str, Any]


def commit_plan(
    conn: Connection, plan: Sequence[Planned], *, actor: str, now: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Write the notifications of ``plan``, their first deliveries and one
    ``notification.created`` event each (by ``actor``); returns the new ids by dedupe key, and
    the ids of the keys a concurrent twin wrote first (nothing is written for those)."""
    ids = insert_notifications(
        conn, [notification_row(p.item, p.status, p.record, now) for p in plan]
    )
    rungs, events = [], []
    for p in plan:
        nid = ids.get(p.item.dedupe_key)
        if nid is None:  # lost a race with a concurrent identical event
            continue
        if p.first_rung is not None:
            channel, due = p.first_rung
            rungs.append(delivery_row(nid, channel, due, 0, now))
        # The subject names the notification; its kind, customer, source and dedupe key are in
        # its row (events stored before kept a copy of them, and still read as they were).
        events.append(
            audit.Event(actor, "notification.created", f"notification#{nid}", p.event_data)
        )
    insert_deliveries(conn, rungs)
    audit.append(conn, events, now)
    lost = [p.item.dedupe_key for p in plan if p.item.dedupe_key not in ids]
    return ids, existing(conn, lost) if lost else {}


def notification_row(
    item: NewNotification, status: NotificationStatus, record: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "kind": item.kind.value,
        "purpose": item.purpose.value,
        "customer_id": item.customer_id,
        "payload": item.payload,
        "dedupe_key": item.dedupe_key,
        "campaign_id": item.campaign_id,
        "source": item.source,
        "status": status.value,
        "created_at": now,
        "expires_at": item.expires_at,
        "decisions": [pack(record)],
        "channels": [c.value for c in item.channels] if item.channels is not None else None,
    }


def insert_notifications(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert, skipping dedupe keys a concurrent twin already wrote; returns the new ids."""
    if not rows:
        return {}
    stmt = _insert_notifications(conn.dialect.name)
    return {r.dedupe_key: int(r.id) for r in conn.execute(stmt, rows)}


@functools.cache
def _insert_notifications(dialect: str) -> Any:
    """Built once per dialect (``.returning`` would otherwise make a new statement each call)."""
    base = insert_ignore_for(dialect, notifications, ("dedupe_key",))
    return base.returning(notifications.c.id, notifications.c.dedupe_key)


def delivery_row(
    nid: int,
    channel: Channel | None,
    due: datetime,
    rung: int,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "notification_id": nid,
        "channel": channel.value if channel else None,
        "rung": rung,
        "due_at": due,
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "detail": detail or {},
        "created_at": now,
        "updated_at": now,
    }


def insert_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(deliveries.insert(), rows)


def insert_delivery(conn: Connection, row: dict[str, Any]) -> int:
    return int(
        conn.execute(deliveries.insert().values(**row).returning(deliveries.c.id)).scalar_one()
    )
