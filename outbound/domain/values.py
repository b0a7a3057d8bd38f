"""Values shared by every layer: kinds, channels, purposes, statuses, outcomes, decisions.

States are ``str`` Enums stored by value; values are frozen dataclasses; datetimes are always
timezone-aware (a naive datetime is a bug and is rejected where a value is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from outbound.domain.trace import Facts, Note

#: the largest id a database row can have (a signed 64-bit integer column)
MAX_ROW_ID = 2**63 - 1


def row_id(text: str) -> int | None:
    """``text`` as a row id when it is one (ASCII digits, 1..MAX_ROW_ID), else None: a
    reference of 20 digits names no row, it is not an integer overflow."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


class Kind(StrEnum):
    SHIPPING = "shipping"
    RENEWAL = "renewal"
    PRICE_DROP = "price_drop"


class Channel(StrEnum):
    PUSH = "push"
    SMS = "sms"
    VOICE = "voice"


class Purpose(StrEnum):
    """Why we contact the customer; consent and legal caps are per purpose."""

    TRANSACTIONAL = "transactional"
    SERVICE = "service"
    MARKETING = "marketing"


KIND_PURPOSE: dict[Kind, Purpose] = {
    Kind.SHIPPING: Purpose.TRANSACTIONAL,
    Kind.RENEWAL: Purpose.SERVICE,
    Kind.PRICE_DROP: Purpose.MARKETING,
}

#: The channels a kind may use at all, in the default order for a customer without a preference.
KIND_CHANNELS: dict[Kind, tuple[Channel, ...]] = {
    Kind.SHIPPING: (Channel.PUSH, Channel.SMS, Channel.VOICE),
    Kind.RENEWAL: (Channel.PUSH, Channel.SMS, Channel.VOICE),
    Kind.PRICE_DROP: (Channel.PUSH, Channel.SMS, Channel.VOICE),
}


class ConsentAction(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"


class NotificationStatus(StrEnum):
    PENDING = "pending"  # has a queued or in-flight delivery
    REACHED = "reached"  # a delivery reached the customer; the ladder ended
    SUPPRESSED = "suppressed"  # policy said no on every channel
    EXHAUSTED = "exhausted"  # every channel of the ladder was tried and failed
    EXPIRED = "expired"  # stale before it could go out


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    LEASED = "leased"
    SENT = "sent"  # provider accepted; final outcome may follow (receipt)
    DONE = "done"  # final outcome recorded
    SUPPRESSED = "suppressed"
    EXPIRED = "expired"


class Outcome(StrEnum):
    """One normalized outcome model for every channel."""

    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    ANSWERED = "answered"

    @property
    def reached(self) -> bool:
        """A reached customer ends the ladder."""
        return self in (Outcome.DELIVERED, Outcome.ANSWERED, Outcome.VOICEMAIL)

    @property
    def moves_ladder(self) -> bool:
        """Outcomes that plan the next channel of the preference.

        Voicemail also moves on: a recorded message is not a confirmed contact.
        """
        return self in (
            Outcome.FAILED,
            Outcome.REJECTED,
            Outcome.NO_ANSWER,
            Outcome.BUSY,
            Outcome.VOICEMAIL,
        )


class Intent(StrEnum):
    """What a customer answered the voice robot."""

    CONFIRMED = "confirmed"
    REPEAT = "repeat"
    AGENT = "agent"
    OPT_OUT = "opt_out"
    NO_INPUT = "no_input"
    NOT_UNDERSTOOD = "not_understood"


@dataclass(frozen=True)
class Subscription:
    """A customer's push subscription, as the push adapter needs it."""

    id: int
    customer_id: int
    kind: str  # webpush | fcm
    endpoint: str  # a capability URL (webpush) or an app token (fcm): never logged unmasked
    keys: Mapping[str, str] = field(default_factory=dict)  # p256dh + auth for webpush


def require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value


@dataclass(frozen=True)
class TraceStep:
    """One rule evaluated by the policy engine, in order: its finding as a code and values.

    ``detail`` is the finding in words, rendered when read (``outbound.domain.trace``).
    """

    channel: Channel | None
    note: Note
    facts: Facts | None = None

    @property
    def rule(self) -> str:
        return self.note.rule

    @property
    def ok(self) -> bool:
        return self.note.ok

    @property
    def detail(self) -> str:
        return self.note.text(self.channel.value if self.channel else "", self.facts)


@dataclass(frozen=True)
class CapCheck:
    """An atomic cap reservation the store performs in the claim transaction.

    ``UPDATE cap_counters SET n = n + 1 WHERE key = :key AND <sum of n over window_keys> < :limit``.
    Calendar windows have ``window_keys == (key,)``; rolling windows sum day buckets.
    """

    rule: str
    key: str
    limit: int
    window_keys: tuple[str, ...]


def _facts(trace: tuple[TraceStep, ...]) -> Facts | None:
    return trace[0].facts if trace else None


@dataclass(frozen=True)
class Send:
    channel: Channel
    at: datetime
    caps: tuple[CapCheck, ...] = ()
    trace: tuple[TraceStep, ...] = ()

    def __post_init__(self) -> None:
        require_aware(self.at, "Send.at")

    @property
    def facts(self) -> Facts | None:
        return _facts(self.trace)


@dataclass(frozen=True)
class Defer:
    until: datetime
    channel: Channel | None
    why: Note  # rendered as ``reason``
    trace: tuple[TraceStep, ...] = ()

    def __post_init__(self) -> None:
        require_aware(self.until, "Defer.until")

    @property
    def facts(self) -> Facts | None:
        return _facts(self.trace)

    @property
    def reason(self) -> str:
        return self.why.text(self.channel.value if self.channel else "", self.facts)


class SuppressCode(StrEnum):
    """Why policy said no, as a code: statuses follow from it, never from the prose reason."""

    EXPIRED = "expired"  # stale before it could go out
    EXPIRES_FIRST = "expires_first"  # the next allowed time is after the expiry
    LADDER_EXHAUSTED = "ladder_exhausted"  # every allowed channel was already tried
    NO_CHANNEL = "no_channel"  # no consented, reachable channel

    @property
    def expired(self) -> bool:
        return self in (SuppressCode.EXPIRED, SuppressCode.EXPIRES_FIRST)


@dataclass(frozen=True)
class Suppress:
    code: SuppressCode
    why: Note  # rendered as ``reason``
    trace: tuple[TraceStep, ...] = ()

    @property
    def facts(self) -> Facts | None:
        return _facts(self.trace)

    @property
    def reason(self) -> str:
        return self.why.text("", self.facts)


Decision = Send | Defer | Suppress


@dataclass(frozen=True)
class SendResult:
    """What a channel adapter reports for one attempt."""

    outcome: Outcome
    provider_ref: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; the real outcome arrives later by receipt (SMS DLR).

    The delivery stays ``sent`` with no outcome until ``outbound.services.send.outcomes.record_receipt``
    finds it by one of ``provider_refs`` (a long SMS has one id per part).
    """

    provider_refs: tuple[str, ...]
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.provider_refs:
            raise ValueError("Accepted needs at least one provider reference")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    ceiling: timedelta = timedelta(hours=1)

    def backoff(self, attempt: int) -> timedelta:
        """Delay before the ``attempt``-th retry (1-based), exponential and capped."""
        seconds = self.base.total_seconds() * (self.factor ** max(attempt - 1, 0))
        return min(timedelta(seconds=seconds), self.ceiling)
