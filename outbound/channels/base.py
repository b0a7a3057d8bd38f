"""The channel port: one small protocol every adapter (push, SMS, voice, log) implements.

An adapter returns a typed ``SendResult`` for every attempt, or raises
``TransientChannelError`` (retry later) / ``PermanentChannelError`` (move the ladder on).
It never returns a bare ``False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from outbound.domain.values import Accepted, Channel, Kind, SendResult


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

    @property
    def idempotency_key(self) -> str:
        """Providers deduplicate on this, so a re-sent (reaped) delivery has one effect."""
        return f"delivery-{self.delivery_id}"


class ChannelPort(Protocol):
    channel: Channel

    def send(self, message: Message) -> SendResult | Accepted: ...

    def close(self) -> None: ...
