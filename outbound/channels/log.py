"""The embedded sink: records what would be sent, once per idempotency key, in ``log_sends``.

It stands in for push, SMS and voice when no real provider is configured (the demo, tests,
``--dry-run``), with the same at-most-once effect per delivery that a real provider gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from outbound.channels.base import Message, Result
from outbound.domain.errors import ChannelError
from outbound.domain.values import Channel, Outcome, SendResult

OutcomeRule = Callable[[Message], Outcome]


class SendLog(Protocol):
    """Where the sink writes (``store.sendlog.DbSendLog``): once per idempotency key."""

    def record(
        self,
        key: str,
        channel: Channel,
        customer_id: int,
        text: str,
        outcome: Outcome,
        at: datetime,
    ) -> Outcome:
        """Keep the first record of ``key``; returns the outcome that record holds."""
        ...

    def record_many(
        self, sends: Sequence[tuple[str, Channel, int, str, Outcome]], at: datetime
    ) -> list[Outcome]:
        """``record`` for a batch of (key, channel, customer id, text, outcome)."""
        ...


def default_outcome(message: Message) -> Outcome:
    return Outcome.ANSWERED if message.channel is Channel.VOICE else Outcome.DELIVERED


class LogChannel:
    def __init__(
        self,
        sink: SendLog,
        channel: Channel,
        outcome: OutcomeRule = default_outcome,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sink = sink
        self.channel = channel
        self._outcome = outcome
        self._clock = clock

    def send(self, message: Message) -> SendResult:
        outcome = self._outcome(message)
        stored = self.sink.record(
            message.idempotency_key,
            message.channel,
            message.customer_id,
            message.text,
            outcome,
            self._clock(),
        )
        return _result(message, stored)

    def send_batch(self, messages: Sequence[Message]) -> list[Result]:
        """The batch in one write (one transaction however many messages)."""
        results: list[Result | None] = []
        sends = []
        for m in messages:
            try:
                outcome = self._outcome(m)
            except ChannelError as exc:  # a scripted failure for this message only
                results.append(exc)
                continue
            results.append(None)
            sends.append((m.idempotency_key, m.channel, m.customer_id, m.text, outcome))
        stored = iter(self.sink.record_many(sends, self._clock()) if sends else [])
        return [
            r if r is not None else _result(m, next(stored))
            for m, r in zip(messages, results, strict=True)
        ]

    def close(self) -> None:
        return None


def _result(message: Message, stored: Outcome) -> SendResult:
    detail = {"sink": "log"}
    if message.channel is Channel.VOICE and stored is Outcome.ANSWERED:
        detail["intent"] = "confirmed"
    return SendResult(stored, message.idempotency_key, detail)
