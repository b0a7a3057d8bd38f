"""Recording what a provider said: outcome + audit event + next rung, in the caller's transaction.

The ladder's rules come from ``outbound.policy.ladder``; the rows are written by the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from outbound.domain.errors import ChannelError, TransientChannelError
from outbound.domain.masking import mask_text
from outbound.domain.values import Accepted, Channel, NotificationStatus, Outcome, SendResult
from outbound.policy.ladder import GiveUp, Ladder, next_rung_delay, on_error, voice_retry_wanted
from outbound.services.endpoints.events import StatusEvent, emit
from outbound.store import audit, notifications, outbox
from outbound.store import outcomes as rows
from outbound.store.erasure import scrub_detail
from outbound.store.ledger import release
from outbound.store.outbox import Claimed


@dataclass
class Recorder:
    """Records the outcomes of a batch in the caller's transaction: the common case (a final
    outcome that ends or keeps the ladder) is written in one statement per kind of row at
    ``flush``, with one audit append for every event of the batch. Outcomes that move the
    ladder are written at once, since the next rung reads the history they are part of."""

    conn: Connection
    now: datetime
    ladder: Ladder
    actor: str = "dispatcher"
    _done: list[rows.Done] = field(default_factory=list)
    _reached: list[tuple[int, NotificationStatus]] = field(default_factory=list)
    _events: list[audit.Event] = field(default_factory=list)
    _status: list[StatusEvent] = field(default_factory=list)

    def result(self, claimed: Claimed, result: SendResult) -> int | None:
        """Store the outcome; returns the id of the next-rung delivery when the ladder moves."""
        detail = dict(result.detail)
        done = rows.Done(claimed.delivery_id, result.outcome, result.provider_ref, detail)
        next_id = None
        if result.outcome is Outcome.REJECTED:
            release(self.conn, claimed.caps)
        if result.outcome.reached and self._may_call_again(claimed):
            next_id = self._reached_or_again(claimed, done)
        elif result.outcome.reached:  # voicemail too: a reached customer ends the ladder
            self._done.append(done)
            self._reached.append((claimed.notification_id, NotificationStatus.REACHED))
        elif result.outcome.moves_ladder:
            rows.mark_done_many(self.conn, [done], self.now)
            next_id = plan_next_rung(self.conn, claimed, self.now, self.ladder)
        else:
            self._done.append(done)
        data = {
            "notification": claimed.notification_id,
            "channel": claimed.channel.value,
            "outcome": result.outcome.value,
            "provider_ref": result.provider_ref,
            "detail": scrub_detail(detail),  # transcripts stay on the delivery (erasable)
            "next_rung_delivery": next_id,
        }
        self._event("delivery.outcome", claimed, data)
        self._announce(claimed, result, next_id)
        return next_id

    def _announce(self, claimed: Claimed, result: SendResult, next_id: int | None) -> None:
        """The status events of an outcome, for the shop's endpoints."""
        kind = "notification.delivered" if result.outcome.reached else "notification.failed"
        data: dict[str, Any] = {"channel": claimed.channel.value, "outcome": result.outcome.value}
        if not result.outcome.reached:
            data["next_channel_planned"] = next_id is not None
        self._status.append(self._status_event(kind, claimed, data))
        if claimed.channel is Channel.VOICE and result.detail.get("transferred"):
            data = {"channel": claimed.channel.value, "delivery_id": claimed.delivery_id}
            self._status.append(self._status_event("call.transferred", claimed, data))

    @staticmethod
    def _status_event(kind: str, claimed: Claimed, data: dict[str, Any]) -> StatusEvent:
        return StatusEvent(
            kind, claimed.notification_id, claimed.customer_id, claimed.payload, data
        )

    def _may_call_again(self, claimed: Claimed) -> bool:
        """A voice call, and [ladder] retries calls that left a voicemail or got an unsure
        answer: the ladder must look at this call's history before it ends."""
        ladder = self.ladder
        voice = claimed.channel is Channel.VOICE
        return voice and bool(ladder.voice_voicemail_retries or ladder.voice_unsure_retries)

    def _reached_or_again(self, claimed: Claimed, done: rows.Done) -> int | None:
        rows.mark_done_many(self.conn, [done], self.now)
        if voice_retry_wanted(self.ladder, outbox.history(self.conn, claimed.notification_id)):
            return plan_next_rung(self.conn, claimed, self.now, self.ladder)
        self._reached.append((claimed.notification_id, NotificationStatus.REACHED))
        return None

    def error(self, claimed: Claimed, error: ChannelError) -> int | None:
        """Transient errors are retried with backoff; permanent ones (or too many) move the
        ladder."""
        message = mask_text(str(error))
        transient = isinstance(error, TransientChannelError)
        retry_after = error.retry_after if isinstance(error, TransientChannelError) else None
        verdict = on_error(
            self.ladder, transient=transient, attempts=claimed.attempts, retry_after=retry_after
        )
        if isinstance(verdict, GiveUp):
            detail = {"error": message, "attempts": claimed.attempts}
            return self.result(claimed, SendResult(verdict.outcome, None, detail))
        due = self.now + verdict.after
        rows.retry_at(self.conn, claimed.delivery_id, due, message, self.now)
        data = {"error": message, "attempt": claimed.attempts, "retry_at": due.isoformat()}
        self._event("delivery.retry", claimed, data)
        return None

    def sent(self, claimed: Claimed, accepted: Accepted) -> int | None:
        """The provider took the message: status ``sent``, no outcome until its receipts
        arrive. Receipts that came before this record (fast SMSCs do that) settle it now."""
        refs = accepted.provider_refs
        detail = {**accepted.detail, "refs": list(refs)}
        rows.mark_sent(self.conn, claimed.delivery_id, claimed.channel, refs, detail, self.now)
        data = {
            "notification": claimed.notification_id,
            "channel": claimed.channel.value,
            "detail": scrub_detail(detail),
        }
        self._event("delivery.sent", claimed, data)
        sent = {"channel": claimed.channel.value, "parts": len(refs)}
        self._status.append(self._status_event("notification.sent", claimed, sent))
        return self.settle(claimed.delivery_id, claimed.channel)

    def settle(self, delivery_id: int, channel: Channel) -> int | None:
        """Record the final outcome once every part has a receipt (or one part failed)."""
        parts = rows.receipt_parts(self.conn, delivery_id)
        failed = [p for p in parts if p.outcome not in (None, Outcome.DELIVERED.value)]
        if not parts or (not failed and any(p.outcome is None for p in parts)):
            return None
        final = failed[0] if failed else parts[-1]
        row, claimed = rows.sent_delivery(self.conn, delivery_id, channel)
        if claimed is None:
            return None  # already settled (a repeated receipt), or not recorded as sent yet
        detail = {**row.detail, "receipt": final.detail}
        self.result(claimed, SendResult(Outcome(final.outcome), row.provider_ref, detail))
        return int(row.id)

    def _event(self, action: str, claimed: Claimed, data: dict[str, Any]) -> None:
        subject = f"delivery#{claimed.delivery_id}"
        self._events.append(audit.Event(self.actor, action, subject, data))

    def flush(self) -> None:
        rows.mark_done_many(self.conn, self._done, self.now)
        outbox.set_statuses(self.conn, self._reached)
        audit.append(self.conn, self._events, self.now)
        emit(self.conn, self._status, self.now)
        self._done, self._reached, self._events, self._status = [], [], [], []


def plan_next_rung(conn: Connection, claimed: Claimed, now: datetime, ladder: Ladder) -> int:
    """Queue the ladder's next rung after ``claimed`` (also used to escalate unopened pushes);
    its channel is decided when it is claimed."""
    delay = next_rung_delay(ladder, claimed.channel, outbox.history(conn, claimed.notification_id))
    detail = {"after": f"{claimed.channel.value} rung {claimed.rung}"}
    row = notifications.delivery_row(
        claimed.notification_id, None, now + delay, claimed.rung + 1, now, detail
    )
    return notifications.insert_delivery(conn, row)


# --- sent, awaiting a receipt ---------------------------------------------------------------


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
    recorder = Recorder(conn, now, ladder, actor)
    settled = recorder.settle(delivery_id, channel)
    recorder.flush()
    return settled


def settle_silent(
    conn: Connection, *, now: datetime, older_than: timedelta, ladder: Ladder, limit: int = 500
) -> int:
    """Sent deliveries whose receipts never came are closed as delivered (no receipt).

    Many networks do not return receipts for every message; moving the ladder on silence would
    notify a customer twice, so silence counts as accepted, and the detail says so.
    """
    stale = rows.silent_since(conn, now - older_than, limit)
    recorder = Recorder(conn, now, ladder, "receipts")
    for delivery_id, channel in stale:
        row, claimed = rows.sent_delivery(conn, delivery_id, Channel(channel))
        if claimed is None:
            continue
        note = f"no receipt within {older_than.total_seconds() / 3600:g} h; counted as delivered"
        result = SendResult(Outcome.DELIVERED, row.provider_ref, {**row.detail, "receipt": note})
        recorder.result(claimed, result)
    recorder.flush()
    return len(stale)


@dataclass(frozen=True)
class SilentReceipts:
    """The scheduler's sweep of ``sent`` deliveries whose receipts never came
    (``[sms] receipt_timeout_hours``): each is closed as delivered, see ``settle_silent``."""

    engine: Engine
    older_than: timedelta
    ladder: Ladder
    clock: Callable[[], datetime]

    def run_once(self) -> int:
        """Settle every silent delivery due now; returns how many."""
        with self.engine.begin() as conn:
            return settle_silent(
                conn, now=self.clock(), older_than=self.older_than, ladder=self.ladder
            )
