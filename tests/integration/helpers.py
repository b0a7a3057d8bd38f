"""Small builders shared by the integration tests (real databases, no mocks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select, update

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.domain.errors import ChannelError
from outbound.domain.values import Channel, Kind, Outcome, SendResult
from outbound.schemas.customers import validate_record
from outbound.services.people.customers import upsert_customer
from outbound.services.send import notify
from outbound.store import audit
from outbound.store.notifications import Enqueued
from outbound.store.tables import audit_events, audit_head

NY = "+12125550123"  # America/New_York
BERLIN = "+4915112345678"  # Europe/Berlin
SHANGHAI = "+8613800138000"  # Asia/Shanghai


def add_customer(app: bootstrap.App, ext: str, phone: str, **fields: Any) -> int:
    raw = {"external_id": ext, "phone": phone, **fields}
    with app.engine.begin() as conn:
        cid, _ = upsert_customer(
            conn, validate_record(raw), now=app.clock(), actor="test", source="test"
        )
    return cid


def shipping(order: str = "A1") -> dict[str, Any]:
    return {"order_id": order, "carrier": "DHL", "tracking_no": f"T-{order}", "eta": "2026-11-28"}


def trigger(
    app: bootstrap.App, kind: Kind, cid: int, payload: dict[str, Any], source: str = "test"
) -> Enqueued:
    with app.engine.begin() as conn:
        req = notify.prepare(
            kind, cid, None, payload, now=app.clock(), expiry=app.expiry, source=source
        )
        (result,) = notify.enqueue(conn, [req], rules=app.rules, now=app.clock(), actor="test")
    return result


def count(app: bootstrap.App, table: Table, *where: Any) -> int:
    with app.engine.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


class ScriptedChannel:
    """A channel adapter for tests: answers from a script, records what it was asked to send."""

    def __init__(
        self, channel: Channel, answer: Callable[[Message], SendResult | ChannelError]
    ) -> None:
        self.channel = channel
        self.answer = answer
        self.sent: list[Message] = []

    def send(self, message: Message) -> SendResult:
        self.sent.append(message)
        result = self.answer(message)
        if isinstance(result, ChannelError):
            raise result
        return result

    def close(self) -> None:
        return None


def always(outcome: Outcome) -> Callable[[Message], SendResult]:
    return lambda m: SendResult(outcome, f"ref-{m.delivery_id}")


# --- the audit chain's attacker: full write access to the database, no key ---------------


def rewrite_chain_from(conn: Connection, seq: int, *, strip_macs: bool = False) -> None:
    """Attack (a): change row ``seq``'s actor, then recompute every later hash and the head,
    exactly as the code does, but without the key (MACs kept as they were, or nulled)."""
    conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(actor="mallory"))
    rows = conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()
    prev = audit.GENESIS
    for row in rows:
        body = audit.canonical(row.seq, row.at, row.actor, row.action, row.subject, row.data)
        digest = audit.chain_hash(prev, body)
        values: dict[str, Any] = {"prev_hash": prev, "hash": digest}
        if strip_macs:
            values["mac"] = None
        conn.execute(update(audit_events).where(audit_events.c.seq == row.seq).values(**values))
        prev = digest
    conn.execute(update(audit_head).values(seq=rows[-1].seq, hash=prev))


def truncate_chain(conn: Connection, n: int) -> int:
    """Attack (b): delete the last ``n`` rows and move the head back to the new last one."""
    last = int(conn.execute(select(audit_head.c.seq)).scalar_one())
    conn.execute(delete(audit_events).where(audit_events.c.seq > last - n))
    kept = conn.execute(select(audit_events).where(audit_events.c.seq == last - n)).one()
    conn.execute(update(audit_head).values(seq=kept.seq, hash=kept.hash))
    return last - n
