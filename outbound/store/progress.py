"""How far sending got: the counts and rows a run watches while its workers drain the queue.

Read-only queries over notifications, deliveries and the consent ledger, named for what they
return (the demo waits on them and summarizes with them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from outbound.domain.values import Channel, ConsentAction, DeliveryStatus
from outbound.store.tables import consents, customers, deliveries, notifications


def notification_count(conn: Connection, campaign_id: int | None = None) -> int:
    """All notifications, or those of one campaign."""
    query = select(func.count()).select_from(notifications)
    if campaign_id is not None:
        query = query.where(notifications.c.campaign_id == campaign_id)
    return int(conn.execute(query).scalar_one())


def due_count(conn: Connection, channel: Channel, now: datetime) -> int:
    """Deliveries of ``channel`` due by ``now`` that are queued or in flight."""
    busy = [DeliveryStatus.QUEUED.value, DeliveryStatus.LEASED.value]
    query = (
        select(func.count())
        .select_from(deliveries)
        .where(
            deliveries.c.channel == channel.value,
            deliveries.c.due_at <= now,
            deliveries.c.status.in_(busy),
        )
    )
    return int(conn.execute(query).scalar_one())


def any_awaiting_receipt(conn: Connection) -> bool:
    """Some delivery was sent and its receipt has not come yet."""
    found = conn.execute(
        select(deliveries.c.id).where(deliveries.c.status == DeliveryStatus.SENT.value).limit(1)
    ).first()
    return found is not None


def any_queued_due(conn: Connection, now: datetime) -> bool:
    """Some queued delivery is due by ``now``."""
    found = conn.execute(
        select(deliveries.c.id)
        .where(deliveries.c.status == DeliveryStatus.QUEUED.value, deliveries.c.due_at <= now)
        .limit(1)
    ).first()
    return found is not None


def deliveries_with_notification(conn: Connection) -> Sequence[Any]:
    """Every delivery with its notification's kind, decisions and status (``nstatus``)."""
    return conn.execute(
        select(
            deliveries,
            notifications.c.kind,
            notifications.c.decisions,
            notifications.c.status.label("nstatus"),
        ).join(notifications)
    ).all()


def all_notifications(conn: Connection) -> Sequence[Any]:
    return conn.execute(select(notifications)).all()


def finished_calls(conn: Connection) -> Sequence[Any]:
    """Voice deliveries with an outcome, oldest first, with the customer id and phone."""
    return conn.execute(
        select(deliveries, notifications.c.customer_id, customers.c.phone_e164)
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .join(customers, customers.c.id == notifications.c.customer_id)
        .where(deliveries.c.channel == Channel.VOICE.value, deliveries.c.outcome.is_not(None))
        .order_by(deliveries.c.id)
    ).all()


def revoked_customers(conn: Connection, channel: Channel) -> set[int]:
    """Customers with a revocation of ``channel`` in the consent ledger."""
    return {
        int(cid)
        for cid in conn.execute(
            select(consents.c.customer_id).where(
                consents.c.channel == channel.value,
                consents.c.action == ConsentAction.REVOKE.value,
            )
        ).scalars()
    }
