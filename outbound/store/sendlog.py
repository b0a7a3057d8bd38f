"""The log sink's table: what would have been sent, once per idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from outbound.domain.values import Channel, Outcome
from outbound.store.ledger import insert_ignore
from outbound.store.tables import log_sends


@dataclass
class DbSendLog:
    """``channels.log.SendLog`` on the ``log_sends`` table."""

    engine: Engine

    def record(
        self,
        key: str,
        channel: Channel,
        customer_id: int,
        text: str,
        outcome: Outcome,
        at: datetime,
    ) -> Outcome:
        row = {
            "idempotency_key": key,
            "channel": channel.value,
            "customer_id": customer_id,
            "text": text,
            "outcome": outcome.value,
            "at": at,
        }
        with self.engine.begin() as conn:
            insert_ignore(conn, log_sends, [row], ["idempotency_key"])
            stored = conn.execute(
                select(log_sends.c.outcome).where(log_sends.c.idempotency_key == key)
            ).scalar_one()
        return Outcome(stored)
