"""What the send use case needs besides a transaction, built once by ``bootstrap``.

Every caller of the send path (webhooks, CLI ``send``, campaign runs, the scheduler, the
demo) hands over this one object instead of rebuilding the clock, policy tables, expiry and
size limits keyword by keyword.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from outbound.domain.values import Kind
from outbound.policy.model import Rules
from outbound.services.templates.sizes import SizeLimits


@dataclass(frozen=True)
class Expiry:
    """How long a notification stays worth sending (``[expiry]``)."""

    shipping: timedelta = timedelta(hours=72)
    price_drop: timedelta = timedelta(hours=24)

    def expires_at(
        self, kind: Kind, payload: Mapping[str, Any], now: datetime, tz: str | None
    ) -> datetime:
        if kind is Kind.RENEWAL:
            # after the expiry date ends in the customer's zone, a reminder is pointless
            zone = ZoneInfo(tz) if tz else UTC
            day = date.fromisoformat(payload["expires_on"]) + timedelta(days=1)
            return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        return now + (self.shipping if kind is Kind.SHIPPING else self.price_drop)


@dataclass(frozen=True)
class SendContext:
    """The send use case's collaborators: clock, policy tables, expiry and size limits.

    Built once per process by ``bootstrap.App.send_context()``; a test or benchmark that
    needs another clock makes a copy with ``dataclasses.replace(ctx, clock=...)``.
    """

    clock: Callable[[], datetime]
    rules: Rules
    expiry: Expiry = field(default_factory=Expiry)
    #: how long a message may be; checked when an event or ``send`` arrives
    limits: SizeLimits = field(default_factory=SizeLimits)
