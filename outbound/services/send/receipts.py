"""Push receipts from the shop's app, and escalation of pushes nobody opened.

``POST /v1/receipts`` (signed like the webhooks, by a source allowed ``push.receipt``) reports a
push ``delivered`` or ``opened``, naming our ``delivery_id`` (sent in the push's data) or the
push service's reference. A push still unopened ``[push] escalate_unopened_minutes_<kind>``
after it was delivered goes on to the next channel of the customer's preference: the scheduler
leader runs ``Escalation`` with its other periodic jobs, and policy is checked again at claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, Engine

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import Kind, NotificationStatus, Outcome
from outbound.policy.ladder import Ladder
from outbound.services.send.outcomes import plan_next_rung
from outbound.store.outbox import set_notification_status
from outbound.store.push import (
    PushDelivery,
    mark_escalated,
    push_delivery_for_receipt,
    record_push_receipt,
    unopened_pushes,
)

log = logging.getLogger("outbound.services.send.receipts")

#: pushes delivered longer ago than delay + this are left alone (e.g. escalation just enabled)
ESCALATION_WINDOW = timedelta(hours=24)
#: how far a receipt's ``at`` may sit before the send or after now (the app's clock is not ours)
RECEIPT_SKEW = timedelta(minutes=5)


class PushReceipt(BaseModel):
    """One report from the shop's app; exactly one of ``delivery_id`` and ``provider_ref``."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["delivered", "opened"]
    delivery_id: int | None = Field(None, ge=1, le=2**63 - 1)
    provider_ref: str | None = Field(None, min_length=1, max_length=300)
    at: AwareDatetime | None = Field(None, description="when it happened; default: now")

    @model_validator(mode="after")
    def _one_reference(self) -> PushReceipt:
        if (self.delivery_id is None) == (self.provider_ref is None):
            raise ValueError("give exactly one of delivery_id and provider_ref")
        return self


def apply_receipt(
    conn: Connection, receipt: PushReceipt, *, now: datetime, source: str
) -> dict[str, Any]:
    """Record the receipt in the caller's transaction once it passes ``receipt_problems``."""
    actor = f"webhook:{source}"
    found = push_delivery_for_receipt(conn, receipt.delivery_id, receipt.provider_ref)
    at = receipt.at or now
    problems = receipt_problems(receipt, found, at, now=now, actor=actor)
    if problems or found is None:
        raise ValidationError(problems)
    new = record_push_receipt(conn, found.id, receipt.status, at, now=now, actor=actor)
    return {"delivery_id": found.id, "status": receipt.status, "recorded": new}


def receipt_problems(
    receipt: PushReceipt, found: PushDelivery | None, at: datetime, *, now: datetime, actor: str
) -> list[FieldProblem]:
    """Owner, state and time: a source reports only on pushes of its own events (or of
    campaigns and the CLI, which no source owns), only once the push service accepted the
    push, and only at a time between the send and now (each give or take ``RECEIPT_SKEW``).
    A delivery of another source is refused as an unknown one (its existence is not told)."""
    name = "delivery_id" if receipt.delivery_id is not None else "provider_ref"
    value = receipt.delivery_id if receipt.delivery_id is not None else receipt.provider_ref
    foreign = found is not None and found.source.startswith("webhook:") and found.source != actor
    if found is None or foreign:
        hint = "is not a push delivery of ours that this source may report on"
        return [FieldProblem(name, value, hint)]
    if found.outcome != Outcome.DELIVERED.value:
        state = found.outcome or found.status
        return [
            FieldProblem(
                name,
                value,
                f"was not sent to the push service (it is {state}); report a receipt only "
                "for a push the app received",
            )
        ]
    if at > now + RECEIPT_SKEW:
        return [
            FieldProblem(
                "at",
                at.isoformat(),
                f"is in the future (now is {now.isoformat(timespec='seconds')}); give when "
                "the app saw the push, or leave it out for now",
            )
        ]
    if at < found.sent_at - RECEIPT_SKEW:
        return [
            FieldProblem(
                "at",
                at.isoformat(),
                f"is before the push was sent ({found.sent_at.isoformat(timespec='seconds')}); "
                "give when the app saw the push, or leave it out for now",
            )
        ]
    return []


def escalation_delays(minutes: Mapping[str, float]) -> dict[Kind, timedelta]:
    """Kind value -> ``[push] escalate_unopened_minutes_<kind>``; the kinds with a delay > 0."""
    delays = {k: minutes.get(k.value, 0.0) for k in Kind}
    return {k: timedelta(minutes=m) for k, m in delays.items() if m > 0}


@dataclass
class Escalation:
    engine: Engine
    delays: Mapping[Kind, timedelta]
    ladder: Ladder
    clock: Callable[[], datetime]

    def run_once(self) -> list[int]:
        """Plan the next rung for every push unopened past its kind's delay; returns new ids."""
        now, planned = self.clock(), []
        with self.engine.begin() as conn:
            for kind, delay in self.delays.items():
                before = now - delay
                for claimed in unopened_pushes(conn, kind, before, before - ESCALATION_WINDOW):
                    set_notification_status(
                        conn, claimed.notification_id, NotificationStatus.PENDING
                    )
                    next_id = plan_next_rung(conn, claimed, now, self.ladder)
                    mark_escalated(conn, claimed, next_id, now=now)
                    planned.append(next_id)
        if planned:
            log.info("escalated %d unopened pushes to the next channel", len(planned))
        return planned
