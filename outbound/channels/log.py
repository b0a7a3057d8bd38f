"""The embedded sink: records what would be sent, once per idempotency key, in ``log_sends``.

It stands in for push, SMS and voice when no real provider is configured (the demo, tests,
``--dry-run``), with the same at-most-once effect per delivery that a real provider gives.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from outbound.channels.base import Message
from outbound.domain.values import Channel, Outcome, SendResult
from outbound.store.ledger import insert_ignore
from outbound.store.tables import log_sends

OutcomeRule = Callable[[Message], Outcome]


def default_outcome(message: Message) -> Outcome:
    return Outcome.ANSWERED if message.channel is Channel.VOICE else Outcome.DELIVERED


class LogChannel:
    def __init__(
        self,
        engine: Engine,
        channel: Channel,
        outcome: OutcomeRule = default_outcome,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.channel = channel
        self._outcome = outcome
        self._clock = clock

    def send(self, message: Message) -> SendResult:
        outcome = self._outcome(message)
        row = {
            "idempotency_key": message.idempotency_key,
            "channel": message.channel.value,
            "customer_id": message.customer_id,
            "text": message.text,
            "outcome": outcome.value,
            "at": self._clock(),
        }
        with self.engine.begin() as conn:
            insert_ignore(conn, log_sends, [row], ["idempotency_key"])
            stored = conn.execute(
                select(log_sends.c.outcome).where(
                    log_sends.c.idempotency_key == message.idempotency_key
                )
            ).scalar_one()
        detail = {"sink": "log"}
        if message.channel is Channel.VOICE and stored == Outcome.ANSWERED.value:
            detail["intent"] = "confirmed"
        return SendResult(Outcome(stored), message.idempotency_key, detail)

    def close(self) -> None:
        return None
