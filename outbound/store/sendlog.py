"""The log sink's table: what would have been sent, once per idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam, select

from outbound.domain.values import Channel, Outcome
from outbound.store.ledger import insert_ignore
from outbound.store.tables import log_sends

_STORED = select(log_sends.c.idempotency_key, log_sends.c.outcome).where(
    log_sends.c.idempotency_key.in_(bindparam("b_keys", expanding=True))
)


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
        return self.record_many([(key, channel, customer_id, text, outcome)], at)[0]

    def record_many(
        self, sends: Sequence[tuple[str, Channel, int, str, Outcome]], at: datetime
    ) -> list[Outcome]:
        """Keep the first record per key, in one transaction; the stored outcome of each."""
        rows = [
            {
                "idempotency_key": key,
                "channel": channel.value,
                "customer_id": customer_id,
                "text": text,
                "outcome": outcome.value,
                "at": at,
            }
            for key, channel, customer_id, text, outcome in sends
        ]
        with self.engine.begin() as conn:
            insert_ignore(conn, log_sends, rows, ["idempotency_key"])
            found = conn.execute(_STORED, {"b_keys": [s[0] for s in sends]}).tuples().all()
        stored = dict(found)
        return [Outcome(stored[s[0]]) for s in sends]
