"""Recording what a provider said: outcome + audit event + next rung, in the caller's transaction.

The ladder's rules come from ``outbound.policy.ladder``; the rows are written by the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import ChannelError, TransientChannelError
from outbound.domain.masking import mask_text
from outbound.domain.values import Accepted, Channel, NotificationStatus, Outcome, SendResult
from outbound.policy.ladder import GiveUp, Ladder, next_rung_delay, on_error
from outbound.store import audit, outbox
from outbound.store import outcomes as rows
from outbound.store.ledger import release
from outbound.store.outbox import Claimed


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
    detail = dict(result.detail)
    rows.mark_done(conn, claimed.delivery_id, result.outcome, result.provider_ref, detail, now)
    if result.outcome is Outcome.REJECTED:
        release(conn, claimed.caps)
    next_id = None
    if result.outcome.reached:
        outbox.set_notification_status(conn, claimed.notification_id, NotificationStatus.REACHED)
    elif result.outcome.moves_ladder:
        next_id = plan_next_rung(conn, claimed, now, ladder)
    data = {
        "notification": claimed.notification_id,
        "channel": claimed.channel.value,
        "outcome": result.outcome.value,
        "provider_ref": result.provider_ref,
        "detail": detail,
        "next_rung_delivery": next_id,
    }
    event = audit.Event(actor, "delivery.outcome", f"delivery#{claimed.delivery_id}", data)
    audit.append(conn, [event], now)
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
    transient = isinstance(error, TransientChannelError)
    retry_after = error.retry_after if isinstance(error, TransientChannelError) else None
    verdict = on_error(
        ladder, transient=transient, attempts=claimed.attempts, retry_after=retry_after
    )
    if isinstance(verdict, GiveUp):
        detail = {"error": message, "attempts": claimed.attempts}
        result = SendResult(verdict.outcome, None, detail)
        return record_result(conn, claimed, result, now=now, ladder=ladder, actor=actor)
    due = now + verdict.after
    rows.retry_at(conn, claimed.delivery_id, due, message, now)
    data = {"error": message, "attempt": claimed.attempts, "retry_at": due.isoformat()}
    event = audit.Event(actor, "delivery.retry", f"delivery#{claimed.delivery_id}", data)
    audit.append(conn, [event], now)
    return None


def plan_next_rung(conn: Connection, claimed: Claimed, now: datetime, ladder: Ladder) -> int:
    """Queue the ladder's next rung after ``claimed`` (also used to escalate unopened pushes);
    its channel is decided when it is claimed."""
    delay = next_rung_delay(ladder, claimed.channel, outbox.history(conn, claimed.notification_id))
    detail = {"after": f"{claimed.channel.value} rung {claimed.rung}"}
    row = outbox.delivery_row(
        claimed.notification_id, None, now + delay, claimed.rung + 1, now, detail
    )
    return outbox.insert_delivery(conn, row)


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
    refs = accepted.provider_refs
    detail = {**accepted.detail, "refs": list(refs)}
    rows.mark_sent(conn, claimed.delivery_id, claimed.channel, refs, detail, now)
    data = {
        "notification": claimed.notification_id,
        "channel": claimed.channel.value,
        "detail": detail,
    }
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
    delivery_id = rows.store_receipt(conn, channel, ref, outcome, detail, now)
    if delivery_id is None:
        return None
    return _settle(conn, delivery_id, channel, now=now, ladder=ladder, actor=actor)


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
    parts = rows.receipt_parts(conn, delivery_id)
    failed = [p for p in parts if p.outcome not in (None, Outcome.DELIVERED.value)]
    if not parts or (not failed and any(p.outcome is None for p in parts)):
        return None
    final = failed[0] if failed else parts[-1]
    row, claimed = rows.sent_delivery(conn, delivery_id, channel)
    if claimed is None:
        return None  # already settled (a repeated receipt), or not recorded as sent yet
    result = SendResult(
        Outcome(final.outcome), row.provider_ref, {**row.detail, "receipt": final.detail}
    )
    record_result(conn, claimed, result, now=now, ladder=ladder, actor=actor)
    return int(row.id)


def settle_silent(
    conn: Connection, *, now: datetime, older_than: timedelta, ladder: Ladder, limit: int = 500
) -> int:
    """Sent deliveries whose receipts never came are closed as delivered (no receipt).

    Many networks do not return receipts for every message; moving the ladder on silence would
    notify a customer twice, so silence counts as accepted, and the detail says so.
    """
    stale = rows.silent_since(conn, now - older_than, limit)
    for delivery_id, channel in stale:
        row, claimed = rows.sent_delivery(conn, delivery_id, Channel(channel))
        if claimed is None:
            continue
        note = f"no receipt within {older_than.total_seconds() / 3600:g} h; counted as delivered"
        result = SendResult(Outcome.DELIVERED, row.provider_ref, {**row.detail, "receipt": note})
        record_result(conn, claimed, result, now=now, ladder=ladder, actor="receipts")
    return len(stale)
