"""The hash-chained audit log: ``hash = sha256(prev_hash + canonical row)``.

Appends happen inside the caller's transaction (the unit of work), so an event exists exactly
when the change it describes does. The one-row ``audit_head`` is updated by every append, which
serializes appenders on PostgreSQL as ``BEGIN IMMEDIATE`` does on SQLite: the chain stays linear.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from outbound.domain.masking import mask_text
from outbound.store.tables import audit_events, audit_head

GENESIS = "0" * 64
_text = json.encoder.encode_basestring  # json.dumps(str, ensure_ascii=False)


@dataclass(frozen=True)
class Event:
    actor: str
    action: str
    subject: str
    data: dict[str, Any]


def canonical(seq: int, at: datetime, actor: str, action: str, subject: str, data: str) -> str:
    """The row as hashed: ``json.dumps`` of its fields with sorted keys, no spaces, no ASCII
    escaping — written out directly (the same bytes, without building a dict per row)."""
    stamp = at.astimezone(UTC).isoformat()
    return (
        f'{{"action":{_text(action)},"actor":{_text(actor)},"at":{_text(stamp)},'
        f'"data":{_text(data)},"seq":{int(seq)},"subject":{_text(subject)}}}'
    )


def chain_hash(prev_hash: str, canonical_row: str) -> str:
    return hashlib.sha256((prev_hash + canonical_row).encode("utf-8")).hexdigest()


def _encode(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return mask_text(text)


_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_INSERT = insert(audit_events)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)


def append(conn: Connection, events: Iterable[Event], now: datetime) -> int:
    """Append events in order; returns the last sequence number. Phones in data are masked."""
    head = conn.execute(_HEAD).one()
    seq, prev = int(head.seq), str(head.hash)
    at = now.astimezone(UTC)
    rows = []
    for event in events:
        seq += 1
        data = _encode(event.data)
        subject = mask_text(event.subject)
        digest = chain_hash(prev, canonical(seq, at, event.actor, event.action, subject, data))
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": event.actor,
                "action": event.action,
                "subject": subject,
                "data": data,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    if not rows:
        return seq
    conn.execute(_INSERT, rows)
    conn.execute(_MOVE_HEAD, {"b_seq": seq, "b_hash": prev})
    return seq


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    broken_at: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _rows(conn: Connection, batch: int = 5000) -> Iterator[Any]:
    last = 0
    while True:
        chunk = conn.execute(
            select(audit_events).where(audit_events.c.seq > last).order_by("seq").limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        last = int(chunk[-1].seq)


def verify(conn: Connection) -> VerifyResult:
    """Walk the chain; report the first broken link (edit, deletion, insertion or reorder)."""
    prev, expected_seq, checked = GENESIS, 1, 0
    for row in _rows(conn):
        if row.seq != expected_seq:
            return VerifyResult(checked, expected_seq, f"gap: seq {expected_seq} is missing")
        if row.prev_hash != prev:
            return VerifyResult(checked, row.seq, "prev_hash does not match the previous row")
        body = canonical(row.seq, row.at, row.actor, row.action, row.subject, row.data)
        if chain_hash(prev, body) != row.hash:
            return VerifyResult(checked, row.seq, "row content does not match its hash (edited)")
        prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).one()
    if head.seq != expected_seq - 1 or head.hash != prev:
        return VerifyResult(
            checked, expected_seq, f"chain ends at seq {expected_seq - 1} but head says {head.seq}"
        )
    return VerifyResult(checked, None, "")
