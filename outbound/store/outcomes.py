"""Storage steps for what a provider said: outcome rows, retries, provider references (receipts).

The rules (retry or give up, which outcome moves the ladder, when the next rung is due) are in
``outbound.policy.ladder`` and applied by ``outbound.services.send.outcomes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from outbound.domain.values import Channel, DeliveryStatus, Kind, Outcome
from outbound.store.ledger import insert_ignore
from outbound.store.outbox import Claimed
from outbound.store.tables import deliveries, notifications, provider_refs

_MARK_DONE = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        status=DeliveryStatus.DONE.value,
        outcome=bindparam("b_outcome"),
        lease_until=None,
        provider_ref=bindparam("b_ref"),
        detail=bindparam("b_detail"),
        updated_at=bindparam("b_now"),
    )
)


@dataclass(frozen=True)
class Done:
    """A final outcome to store on a delivery."""

    delivery_id: int
    outcome: Outcome
    provider_ref: str | None
    detail: dict[str, Any]


def mark_done(
    conn: Connection,
    delivery_id: int,
    outcome: Outcome,
    provider_ref: str | None,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    mark_done_many(conn, [Done(delivery_id, outcome, provider_ref, detail)], now)


def mark_done_many(conn: Connection, rows: Sequence[Done], now: datetime) -> None:
    """Store many final outcomes in one statement."""
    if rows:
        params = [
            {
                "b_id": r.delivery_id,
                "b_outcome": r.outcome.value,
                "b_ref": r.provider_ref,
                "b_detail": r.detail,
                "b_now": now,
            }
            for r in rows
        ]
        conn.execute(_MARK_DONE, params)


def retry_at(conn: Connection, delivery_id: int, due: datetime, error: str, now: datetime) -> None:
    """Back to the queue after a transient error (the attempt counts; caps stay reserved)."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status=DeliveryStatus.QUEUED.value,
            due_at=due,
            lease_until=None,
            lease_owner=None,
            updated_at=now,
            detail={"last_error": error},
        )
    )


def mark_sent(
    conn: Connection,
    delivery_id: int,
    channel: Channel,
    refs: Sequence[str],
    detail: dict[str, Any],
    now: datetime,
) -> None:
    """Status ``sent``, no outcome yet; each provider reference now points at the delivery."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status=DeliveryStatus.SENT.value,
            outcome=None,
            lease_until=None,
            provider_ref=refs[0],
            detail=detail,
            updated_at=now,
        )
    )
    rows = [{"channel": channel.value, "ref": r, "created_at": now} for r in refs]
    insert_ignore(conn, provider_refs, rows, ["channel", "ref"])
    conn.execute(
        update(provider_refs)
        .where(provider_refs.c.channel == channel.value, provider_refs.c.ref.in_(list(refs)))
        .values(delivery_id=delivery_id)
    )


def store_receipt(
    conn: Connection,
    channel: Channel,
    ref: str,
    outcome: Outcome,
    detail: dict[str, Any],
    now: datetime,
) -> int | None:
    """Keep one part's receipt; returns its delivery id, or None while the send is unrecorded."""
    row = {"channel": channel.value, "ref": ref, "created_at": now}
    insert_ignore(conn, provider_refs, [row], ["channel", "ref"])
    key = (provider_refs.c.channel == channel.value, provider_refs.c.ref == ref)
    conn.execute(update(provider_refs).where(*key).values(outcome=outcome.value, detail=detail))
    delivery_id = conn.execute(select(provider_refs.c.delivery_id).where(*key)).scalar_one()
    return None if delivery_id is None else int(delivery_id)


def receipt_parts(conn: Connection, delivery_id: int) -> list[Any]:
    """(outcome, detail) of every part of a sent delivery."""
    return list(
        conn.execute(
            select(provider_refs.c.outcome, provider_refs.c.detail).where(
                provider_refs.c.delivery_id == delivery_id
            )
        ).all()
    )


def sent_delivery(
    conn: Connection, delivery_id: int, channel: Channel
) -> tuple[Any, Claimed | None]:
    """The delivery row, and the delivery as a Claimed if it is still waiting for receipts."""
    row = conn.execute(
        select(
            deliveries, notifications.c.customer_id, notifications.c.kind, notifications.c.payload
        )
        .join(notifications, notifications.c.id == deliveries.c.notification_id)
        .where(deliveries.c.id == delivery_id)
    ).one()
    if row.status != DeliveryStatus.SENT.value:
        return row, None
    claimed = Claimed(
        int(row.id),
        int(row.notification_id),
        int(row.customer_id),
        Kind(row.kind),
        channel,
        dict(row.payload),
        int(row.rung),
        int(row.attempts),
        tuple(row.caps_reserved or ()),
    )
    return row, claimed


def silent_since(conn: Connection, cutoff: datetime, limit: int) -> list[tuple[int, str]]:
    """Sent deliveries with no news since ``cutoff``: (id, channel), oldest first."""
    rows = conn.execute(
        select(deliveries.c.id, deliveries.c.channel)
        .where(
            deliveries.c.status == DeliveryStatus.SENT.value,
            deliveries.c.updated_at < cutoff,
        )
        .order_by(deliveries.c.id)
        .limit(limit)
    ).all()
    return [(int(i), str(c)) for i, c in rows]
