"""The channel port: one small protocol every adapter (push, SMS, voice, log) implements.

An adapter returns a typed ``SendResult`` for every attempt, or raises
``TransientChannelError`` (retry later) / ``PermanentChannelError`` (move the ladder on).
It never returns a bare ``False``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from outbound.domain.errors import ChannelError, TransientChannelError
from outbound.domain.values import Accepted, Channel, Kind, SendResult

log = logging.getLogger("outbound.channels")


@dataclass(frozen=True)
class Message:
    delivery_id: int
    channel: Channel
    kind: Kind
    customer_id: int
    to: str  # E.164 for sms/voice, endpoint/token for push; never logged unmasked
    locale: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    title: str | None = None  # a push's title (its template's title block)

    @property
    def idempotency_key(self) -> str:
        """Providers deduplicate on this, so a re-sent (reaped) delivery has one effect."""
        return f"delivery-{self.delivery_id}"


class Refused(TransientChannelError):
    """The provider's answer proves it did not take the message (connection refused, 5xx
    before acceptance, throttled at a window of one, credentials refused): the next provider
    of the route may send it without risk of a duplicate."""


#: what one message of a batch came to: an outcome, accepted (receipt to follow), or an error
Result = SendResult | Accepted | ChannelError


class ChannelPort(Protocol):
    channel: Channel

    def send(self, message: Message) -> SendResult | Accepted: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchPort(ChannelPort, Protocol):
    """An adapter that sends many messages at once (an in-flight window per provider)."""

    def send_batch(self, messages: Sequence[Message]) -> list[Result]:
        """One result per message, in order. A problem with one message is that message's
        error (``TransientChannelError`` / ``PermanentChannelError``); it never fails the
        others and never raises."""
        ...


def send_all(adapter: ChannelPort, messages: Sequence[Message]) -> list[Result]:
    """Send a batch through the adapter's window if it has one, else one message at a time."""
    if isinstance(adapter, BatchPort):
        return adapter.send_batch(messages)
    return [send_one(adapter, m) for m in messages]


def send_one(adapter: ChannelPort, message: Message) -> Result:
    """``adapter.send`` with every failure as a typed result: an adapter bug must not lose the
    delivery (it becomes a transient error, retried)."""
    try:
        return adapter.send(message)
    except ChannelError as exc:
        return exc
    except Exception as exc:
        log.exception(
            "adapter %s crashed on delivery %d", message.channel.value, message.delivery_id
        )
        return TransientChannelError(f"adapter crashed: {type(exc).__name__}")
