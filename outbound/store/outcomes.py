"""Recording what a provider said: outcome row + audit event + next rung, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from outbound.domain.errors import ChannelError, TransientChannelError
from outbound.domain.masking import mask_text
from outbound.domain.values import (
    Accepted,
    Channel,
    DeliveryStatus,
    Kind,
    NotificationStatus,
    Outcome,
    RetryPolicy,
    SendResult,
)
from outbound.store import audit
from outbound.store.ledger import insert_ignore, release
from outbound.store.outbox import Claimed, set_notification_status, tried_channels
from outbound.store.tables import deliveries, notifications, provider_refs


@dataclass(frozen=True)
class Ladder:
    next_rung_delay: timedelta = timedelta(0)
    voice_retries: int = 1
    voice_retry_delay: timedelta = timedelta(minutes=15)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def record_result(
    conn: Connection,
    claimed: Claimed,
    result: SendResult,
    *,
    now: datetime,
    ladder: Ladder,
    actor: str = "dispatcher",
) -> int | None:
    """Store the outcome; returns the id of the next-rung delivery when the ladder moves on."""
    detail = {k: v for k, v in result.detail.items()}
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == claimed.delivery_id)
        .values(
            status=DeliveryStatus.DONE.value,
            outcome=result.outcome.value,
            lease_until=None,
            provider_ref=result.provider_ref,
            detail=detail,
            updated_at=now,
        )
    )
    if result.outcome is Outcome.REJECTED:
        release(conn, claimed.caps)
    next_id = None
    if result.outcome.reached:
        set_notification_status(conn, claimed.notification_id, NotificationStatus.REACHED)
    elif result.outcome.moves_ladder:
        next_id = _next_rung(conn, claimed, now, ladder)
    audit.append(
        conn,
        [
            audit.Event(
                actor,
                "delivery.outcome",
                f"delivery#{claimed.delivery_id}",
                {
                    "notification": claimed.notification_id,
                    "channel": claimed.channel.value,
                    "outcome": result.outcome.value,
                    "provider_ref": result.provider_ref,
                    "detail": detail,
                    "next_rung_delivery": next_id,
                },
            )
        ],
        now,
    )
    return next_id


def record_error(
    conn: Connection,
    claimed: Claimed,
    error: ChannelError,
    *,
    now: datetime,
    ladder: Ladder,
    actor: str = "dispatcher",
) -> int | None:
    """Transient errors are retried with backoff; permanent ones (or too many) move the ladder."""
    message = mask_text(str(error))
    if isinstance(error, TransientChannelError) and claimed.attempts < ladder.retry.max_attempts:
        wait = ladder.retry.backoff(claimed.attempts)
        if error.retry_after is not None:
            wait = max(wait, timedelta(seconds=error.retry_after))
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == claimed.delivery_id)
            .values(
                status=DeliveryStatus.QUEUED.value,
                due_at=now + wait,
                lease_until=None,
                lease_owner=None,
                updated_at=now,
                detail={"last_error": message},
            )
        )
        audit.append(
            conn,
            [
                audit.Event(
                    actor,
                    "delivery.retry",
                    f"delivery#{claimed.delivery_id}",
                    {
                        "error": message,
                        "attempt": claimed.attempts,
                        "retry_at": (now + wait).isoformat(),
                    },
                )
            ],
            now,
        )
        return None
    outcome = Outcome.FAILED if isinstance(error, TransientChannelError) else Outcome.REJECTED
    result = SendResult(outcome, None, {"error": message, "attempts": claimed.attempts})
    return record_result(conn, claimed, result, now=now, ladder=ladder, actor=actor)


def plan_next_rung(conn: Connection, claimed: Claimed, now: datetime, ladder: Ladder) -> int:
    """Queue the ladder's next channel after ``claimed`` (also used to escalate unopened pushes)."""
    return _next_rung(conn, claimed, now, ladder)


def _next_rung(conn: Connection, claimed: Claimed, now: datetime, ladder: Ladder) -> int:
    history = conn.execute(
        select(deliveries.c.channel, deliveries.c.outcome)
        .where(deliveries.c.notification_id == claimed.notification_id)
        .order_by(deliveries.c.id)
    ).all()
    tried = tried_channels(history, ladder.voice_retries)
    voice_again = claimed.channel is Channel.VOICE and Channel.VOICE not in tried
    delay = ladder.voice_retry_delay if voice_again else ladder.next_rung_delay
    row: dict[str, Any] = {
        "notification_id": claimed.notification_id,
        "channel": None,
        "rung": claimed.rung + 1,
        "due_at": now + delay,
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "detail": {"after": f"{claimed.channel.value} rung {claimed.rung}"},
        "created_at": now,
        "updated_at": now,
    }
    return int(
        conn.execute(deliveries.insert().values(**row).returning(deliveries.c.id)).scalar_one()
    )


# --- sent, awaiting a receipt ---------------------------------------------------------------


def record_sent(
    conn: Connection,
    claimed: Claimed,
    accepted: Accepted,
    *,
    now: datetime,
    ladder: Ladder,
    actor: str = "dispatcher",
) -> int | None:
    """The provider took the message: status ``sent``, no outcome until its receipts arrive.

    Receipts that arrived before this record (fast SMSCs do that) settle it right away.
    """
    channel, refs = claimed.channel.value, accepted.provider_refs
    detail = {**accepted.detail, "refs": list(refs)}
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == claimed.delivery_id)
        .values(
            status=DeliveryStatus.SENT.value,
            outcome=None,
            lease_until=None,
            provider_ref=refs[0],
            detail=detail,
            updated_at=now,
        )
    )
    rows = [{"channel": channel, "ref": r, "created_at": now} for r in refs]
    insert_ignore(conn, provider_refs, rows, ["channel", "ref"])
    conn.execute(
        update(provider_refs)
        .where(provider_refs.c.channel == channel, provider_refs.c.ref.in_(refs))
        .values(delivery_id=claimed.delivery_id)
    )
    data = {"notification": claimed.notification_id, "channel": channel, "detail": detail}
    event = audit.Event(actor, "delivery.sent", f"delivery#{claimed.delivery_id}", data)
    audit.append(conn, [event], now)
    return _settle(conn, claimed.delivery_id, claimed.channel, now=now, ladder=ladder, actor=actor)


def record_receipt(
    conn: Connection,
    channel: Channel,
    ref: str,
    outcome: Outcome,
    detail: dict[str, Any],
    *,
    now: datetime,
    ladder: Ladder,
    actor: str = "receipts",
) -> int | None:
    """Apply one provider receipt; returns the delivery id when it settled the delivery.

    Every part of a long SMS has its own receipt: one failed part fails the delivery (and moves
    the ladder), all parts delivered deliver it. A receipt for a ref not yet recorded as sent
    waits in ``provider_refs``; a repeated receipt changes nothing.
    """
    row = {"channel": channel.value, "ref": ref, "created_at": now}
    insert_ignore(conn, provider_refs, [row], ["channel", "ref"])
    key = (provider_refs.c.channel == channel.value, provider_refs.c.ref == ref)
    conn.execute(update(provider_refs).where(*key).values(outcome=outcome.value, detail=detail))
    delivery_id = conn.execute(select(provider_refs.c.delivery_id).where(*key)).scalar_one()
    if delivery_id is None:
        return None
    return _settle(conn, int(delivery_id), channel, now=now, ladder=ladder, actor=actor)


def _settle(
    conn: Connection,
    delivery_id: int,
    channel: Channel,
    *,
    now: datetime,
    ladder: Ladder,
    actor: str,
) -> int | None:
    """Record the final outcome once every part has a receipt (or one part failed)."""
    parts = conn.execute(
        select(provider_refs.c.outcome, provider_refs.c.detail).where(
            provider_refs.c.delivery_id == delivery_id
        )
    ).all()
    failed = [p for p in parts if p.outcome not in (None, Outcome.DELIVERED.value)]
    if not parts or (not failed and any(p.outcome is None for p in parts)):
        return None
    final = failed[0] if failed else parts[-1]
    row, claimed = _sent_delivery(conn, delivery_id, channel)
    if claimed is None:
        return None  # already settled (a repeated receipt), or not recorded as sent yet
    result = SendResult(
        Outcome(final.outcome), row.provider_ref, {**row.detail, "receipt": final.detail}
    )
    record_result(conn, claimed, result, now=now, ladder=ladder, actor=actor)
    return int(row.id)


def _sent_delivery(
    conn: Connection, delivery_id: int, channel: Channel
) -> tuple[Any, Claimed | None]:
    """The delivery as a Claimed, if it is still waiting for its receipts."""
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


def settle_silent(
    conn: Connection, *, now: datetime, older_than: timedelta, ladder: Ladder, limit: int = 500
) -> int:
    """Sent deliveries whose receipts never came are closed as delivered (no receipt).

    Many networks do not return receipts for every message; moving the ladder on silence would
    notify a customer twice, so silence counts as accepted, and the detail says so.
    """
    stale = conn.execute(
        select(deliveries.c.id, deliveries.c.channel)
        .where(
            deliveries.c.status == DeliveryStatus.SENT.value,
            deliveries.c.updated_at < now - older_than,
        )
        .order_by(deliveries.c.id)
        .limit(limit)
    ).all()
    for delivery_id, channel in stale:
        row, claimed = _sent_delivery(conn, int(delivery_id), Channel(channel))
        if claimed is None:
            continue
        note = f"no receipt within {older_than.total_seconds() / 3600:g} h; counted as delivered"
        result = SendResult(Outcome.DELIVERED, row.provider_ref, {**row.detail, "receipt": note})
        record_result(conn, claimed, result, now=now, ladder=ladder, actor="receipts")
    return len(stale)
