"""Push subscriptions (look one up, remove a dead one) and push receipts / escalation, audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select, update

from outbound.domain.masking import mask_endpoint
from outbound.domain.values import Channel, Kind, NotificationStatus, Outcome, Subscription
from outbound.store import audit
from outbound.store.ledger import insert_ignore
from outbound.store.outbox import Claimed
from outbound.store.tables import deliveries, notifications, push_receipts, push_subscriptions


def find_subscription(conn: Connection, customer_id: int, endpoint: str) -> Subscription | None:
    row = conn.execute(
        select(push_subscriptions).where(
            push_subscriptions.c.customer_id == customer_id,
            push_subscriptions.c.endpoint == endpoint,
        )
    ).first()
    if row is None:
        return None
    keys = {str(k): str(v) for k, v in dict(row.keys or {}).items()}
    return Subscription(int(row.id), int(row.customer_id), str(row.kind), str(row.endpoint), keys)


def remove_subscription(
    conn: Connection, sub: Subscription, reason: str, *, now: datetime, actor: str = "push"
) -> bool:
    """Delete a subscription the push service called gone; False when it was already removed."""
    removed = conn.execute(delete(push_subscriptions).where(push_subscriptions.c.id == sub.id))
    if not removed.rowcount:
        return False
    data = {"kind": sub.kind, "endpoint": mask_endpoint(sub.endpoint), "reason": reason}
    event = audit.Event(actor, "push.subscription_removed", f"customer#{sub.customer_id}", data)
    audit.append(conn, [event], now)
    return True


@dataclass
class DbSubscriptions:
    """The push adapter's view of the subscriptions table (``channels.push.SubscriptionBook``)."""

    engine: Engine
    clock: Callable[[], datetime]

    def find(self, customer_id: int, endpoint: str) -> Subscription | None:
        with self.engine.begin() as conn:
            return find_subscription(conn, customer_id, endpoint)

    def remove(self, sub: Subscription, reason: str) -> bool:
        with self.engine.begin() as conn:
            return remove_subscription(conn, sub, reason, now=self.clock())


# --- receipts from the shop's app, and escalation of unopened pushes -------------------------


@dataclass(frozen=True)
class PushDelivery:
    """What a receipt is checked against: the delivery's state, when it was sent, its owner."""

    id: int
    status: str
    outcome: str | None
    sent_at: datetime  # the outcome's time (the push service's answer) for a sent push
    source: str  # the notification's creator, e.g. "webhook:shop", "campaign:…", "cli"


def push_delivery_for_receipt(
    conn: Connection, delivery_id: int | None, provider_ref: str | None
) -> PushDelivery | None:
    """The push delivery a receipt names (by our id or the push service's reference)."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.status,
            deliveries.c.outcome,
            deliveries.c.updated_at,
            notifications.c.source,
        )
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(deliveries.c.channel == Channel.PUSH.value)
    )
    if delivery_id is not None:
        query = query.where(deliveries.c.id == delivery_id)
    else:
        query = query.where(deliveries.c.provider_ref == provider_ref)
    row = conn.execute(query.order_by(deliveries.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return PushDelivery(int(row.id), row.status, row.outcome, row.updated_at, row.source)


def record_push_receipt(
    conn: Connection, delivery_id: int, status: str, at: datetime, *, now: datetime, actor: str
) -> bool:
    """Store ``delivered`` / ``opened`` (opened implies delivered); False when nothing was new."""
    row = {"delivery_id": delivery_id, "updated_at": now}
    insert_ignore(conn, push_receipts, [row], ["delivery_id"])
    columns = ["delivered_at", "opened_at"] if status == "opened" else ["delivered_at"]
    changed = 0
    for column in columns:
        changed += conn.execute(
            update(push_receipts)
            .where(push_receipts.c.delivery_id == delivery_id, push_receipts.c[column].is_(None))
            .values({column: at, "updated_at": now})
        ).rowcount
    if changed:
        data = {"status": status, "at": at.isoformat()}
        event = audit.Event(actor, "push.receipt", f"delivery#{delivery_id}", data)
        audit.append(conn, [event], now)
    return bool(changed)


def unopened_pushes(
    conn: Connection, kind: Kind, delivered_before: datetime, delivered_after: datetime
) -> list[Claimed]:
    """Pushes of ``kind`` delivered in the window, never opened, not yet escalated."""
    rows = conn.execute(
        select(deliveries, notifications.c.customer_id, notifications.c.payload)
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .outerjoin(push_receipts, push_receipts.c.delivery_id == deliveries.c.id)
        .where(
            deliveries.c.channel == Channel.PUSH.value,
            deliveries.c.outcome == Outcome.DELIVERED.value,
            deliveries.c.updated_at <= delivered_before,
            deliveries.c.updated_at > delivered_after,
            notifications.c.kind == kind.value,
            notifications.c.status == NotificationStatus.REACHED.value,
            push_receipts.c.opened_at.is_(None),
            push_receipts.c.escalated_to.is_(None),
        )
        .order_by(deliveries.c.id)
        .limit(500)
    ).all()
    return [
        Claimed(
            int(r.id),
            int(r.notification_id),
            int(r.customer_id),
            kind,
            Channel.PUSH,
            dict(r.payload),
            int(r.rung),
            int(r.attempts),
            tuple(r.caps_reserved or ()),
        )
        for r in rows
    ]


def mark_escalated(conn: Connection, claimed: Claimed, next_id: int, *, now: datetime) -> None:
    insert_ignore(
        conn,
        push_receipts,
        [{"delivery_id": claimed.delivery_id, "updated_at": now}],
        ["delivery_id"],
    )
    conn.execute(
        update(push_receipts)
        .where(push_receipts.c.delivery_id == claimed.delivery_id)
        .values(escalated_to=next_id, updated_at=now)
    )
    data = {"notification": claimed.notification_id, "next_rung_delivery": next_id}
    event = audit.Event("escalation", "push.unopened", f"delivery#{claimed.delivery_id}", data)
    audit.append(conn, [event], now)
