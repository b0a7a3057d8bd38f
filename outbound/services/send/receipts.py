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
from outbound.domain.values import Kind, NotificationStatus
from outbound.policy.ladder import Ladder
from outbound.services.send.outcomes import plan_next_rung
from outbound.store.outbox import set_notification_status
from outbound.store.push import (
    find_push_delivery,
    mark_escalated,
    record_push_receipt,
    unopened_pushes,
)

log = logging.getLogger("outbound.services.send.receipts")

#: pushes delivered longer ago than delay + this are left alone (e.g. escalation just enabled)
ESCALATION_WINDOW = timedelta(hours=24)


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
    """Record the receipt in the caller's transaction; an unknown delivery is a field problem."""
    delivery_id = find_push_delivery(conn, receipt.delivery_id, receipt.provider_ref)
    if delivery_id is None:
        name = "delivery_id" if receipt.delivery_id is not None else "provider_ref"
        value = receipt.delivery_id if receipt.delivery_id is not None else receipt.provider_ref
        raise ValidationError([FieldProblem(name, value, "is not a push delivery of ours")])
    at = receipt.at or now
    new = record_push_receipt(
        conn, delivery_id, receipt.status, at, now=now, actor=f"webhook:{source}"
    )
    return {"delivery_id": delivery_id, "status": receipt.status, "recorded": new}


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
