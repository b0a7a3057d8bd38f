"""The hash-chained audit log: ``hash = sha256(prev_hash + canonical row)``, each row MAC'd.

With an audit key configured every row also carries ``mac = HMAC(key, hash)`` and the head can
be checkpointed outside the database (``outbound.store.anchor``): the hashes alone can be
recomputed by whoever can write the database, the MACs and checkpoints cannot.

Appends happen inside the caller's transaction (the unit of work), so an event exists exactly
when the change it describes does. The one-row ``audit_head`` is updated by every append, which
serializes appenders on PostgreSQL as ``BEGIN IMMEDIATE`` does on SQLite: the chain stays linear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from outbound.domain.masking import mask_text
from outbound.store.anchor import Checkpoint, row_mac, row_macs
from outbound.store.rows import as_dicts
from outbound.store.snapshots import chunks
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
    for row, mac in zip(rows, row_macs(conn, [str(r["hash"]) for r in rows]), strict=True):
        row["mac"] = mac
    conn.execute(_INSERT, rows)
    conn.execute(_MOVE_HEAD, {"b_seq": seq, "b_hash": prev})
    return seq


@dataclass(frozen=True)
class Verified:
    """Where a walk that found nothing wrong ended: ``verify_from`` goes on from here."""

    seq: int
    hash: str
    mac: str | None
    signed: int
    unsigned: int


def unsigned_problem(result: VerifyResult, allowed_before: int | None) -> str:
    """What is wrong with a keyed walk that found events without a MAC ('' when nothing).

    Unsigned events can only be a prefix (one after a signed event breaks the walk), and such a
    prefix is what a chain written before the key looks like — and what a chain looks like whose
    every MAC was stripped by whoever rewrote it. So once a key exists they fail, unless the
    caller says the database predates the key: ``allowed_before`` is the seq of the first event
    written with the key (0: every event may be unsigned)."""
    if not result.keyed or not result.unsigned:
        return ""
    if allowed_before is not None and (allowed_before == 0 or result.unsigned < allowed_before):
        return ""
    first = result.unsigned + 1
    what = (
        f"none of the {result.unsigned} events carries a MAC"
        if not result.signed
        else f"the first {result.unsigned} events carry no MAC"
    )
    return (
        f"{what} although an audit key is configured (a rewrite that stripped the "
        "MACs looks like this); if the database predates the key, say so with "
        f"--allow-unsigned-before {first} (the seq of the first event written with the key) "
        "or --predates-key"
    )


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    broken_at: int | None
    problem: str
    #: rows whose MAC was checked; rows with no MAC (written before a key was configured)
    signed: int = 0
    unsigned: int = 0
    keyed: bool = False  # a key was given, so MACs were checked
    checkpoint: Checkpoint | None = None  # the checkpoint the chain was held against
    through: Verified | None = None  # the last row verified, when nothing was wrong

    @property
    def ok(self) -> bool:
        return self.broken_at is None


_COLUMNS = (
    audit_events.c.seq,
    audit_events.c.at,
    audit_events.c.actor,
    audit_events.c.action,
    audit_events.c.subject,
    audit_events.c.data,
    audit_events.c.prev_hash,
    audit_events.c.hash,
    audit_events.c.mac,
)


def _rows(conn: Connection, batch: int = 5000, after: int = 0) -> Iterator[Any]:
    last = after
    while True:
        chunk = conn.execute(
            select(*_COLUMNS).where(audit_events.c.seq > last).order_by("seq").limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        last = int(chunk[-1][0])


def _differs(cp: Checkpoint) -> str:
    return (
        f"hash differs from the checkpoint of {cp.at.isoformat()} "
        f"(the chain was rewritten at or before seq {cp.seq})"
    )


class _Walk:
    """The state of one verification pass; ``step`` returns the problem with a row, if any.

    Rows are unpacked as tuples (in ``_COLUMNS`` order): on a chain of millions of events the
    attribute lookups were a third of the time.
    """

    def __init__(self, key: bytes | None, checkpoint: Checkpoint | None) -> None:
        self.key, self.checkpoint = key, checkpoint
        self.prev, self.expected, self.checked = GENESIS, 1, 0
        self.signed = self.unsigned = 0
        self.mac: str | None = None

    def resume(self, at: Verified) -> None:
        self.prev, self.expected, self.checked = at.hash, at.seq + 1, at.seq
        self.signed, self.unsigned, self.mac = at.signed, at.unsigned, at.mac

    def step(self, row: Any) -> str:
        seq, at, actor, action, subject, data, prev_hash, digest, mac = row
        if seq != self.expected:
            return f"gap: seq {self.expected} is missing"
        if prev_hash != self.prev:
            return "prev_hash does not match the previous row"
        if chain_hash(prev_hash, canonical(seq, at, actor, action, subject, data)) != digest:
            return "row content does not match its hash (edited)"
        if self.key is not None:
            problem = self._mac(self.key, mac, digest)
            if problem:
                return problem
        cp = self.checkpoint
        if cp is not None and seq == cp.seq and digest != cp.hash:
            return _differs(cp)
        self.prev, self.expected, self.checked = digest, seq + 1, self.checked + 1
        self.mac = mac
        return ""

    def _mac(self, key: bytes, mac: str | None, digest: str) -> str:
        if mac is None:
            if self.signed:
                return "row has no MAC although earlier rows have one (MAC stripped: rewritten)"
            self.unsigned += 1
            return ""
        if not hmac.compare_digest(mac, row_mac(key, digest)):
            return "row MAC does not match the audit key (rewritten without it, or another key)"
        self.signed += 1
        return ""

    def result(self, broken_at: int | None, problem: str) -> VerifyResult:
        keyed = self.key is not None
        through = None
        if broken_at is None:
            last = self.expected - 1
            through = Verified(last, self.prev, self.mac, self.signed, self.unsigned)
        return VerifyResult(
            self.checked,
            broken_at,
            problem,
            self.signed,
            self.unsigned,
            keyed,
            self.checkpoint,
            through,
        )

    def finish(self, head: Any) -> VerifyResult:
        last = self.expected - 1
        if head.seq != last or head.hash != self.prev:
            return self.result(self.expected, f"chain ends at seq {last} but head says {head.seq}")
        cp = self.checkpoint
        if cp is not None and cp.seq > last:
            return self.result(
                last + 1,
                f"chain ends at seq {last} but the checkpoint of {cp.at.isoformat()} saw seq "
                f"{cp.seq}: {cp.seq - last} events deleted from the tail",
            )
        return self.result(None, "")


def verify(
    conn: Connection, key: bytes | None = None, checkpoint: Checkpoint | None = None
) -> VerifyResult:
    """Walk the chain; report the first broken link (edit, deletion, insertion or reorder).

    With ``key``, every row's MAC is checked too (a prefix written before there was a key may
    have none); with a ``checkpoint`` (already signature-checked), the chain must still hold the
    hash it vouched for, and still reach its seq.
    """
    walk = _Walk(key, checkpoint)
    for row in _rows(conn):
        problem = walk.step(row)
        if problem:
            return walk.result(walk.expected, problem)  # the row the problem is with
    return walk.finish(conn.execute(select(audit_head).where(audit_head.c.id == 1)).one())


def verify_from(
    conn: Connection,
    resume: Verified,
    key: bytes | None = None,
    checkpoint: Checkpoint | None = None,
) -> VerifyResult | None:
    """Go on from an earlier walk's end: only the rows appended since are read.

    None when the row that walk ended at is gone or differs (its hash and MAC commit to every
    row before it, so a rewrite with recomputed hashes, a rewound head or a truncated tail all
    land here): then only a whole walk (``verify``) can say what happened. What this cannot see
    is an old row edited in place with its stored hash left alone; a whole walk finds that.
    """
    if resume.seq:
        row = conn.execute(
            select(audit_events.c.hash, audit_events.c.mac).where(audit_events.c.seq == resume.seq)
        ).one_or_none()
        if row is None or row.hash != resume.hash or row.mac != resume.mac:
            return None
    walk = _Walk(key, checkpoint)
    walk.resume(resume)
    if checkpoint is not None and 0 < checkpoint.seq <= resume.seq:
        stored = conn.execute(
            select(audit_events.c.hash).where(audit_events.c.seq == checkpoint.seq)
        ).scalar_one_or_none()
        if stored != checkpoint.hash:
            return walk.result(checkpoint.seq, _differs(checkpoint))
    for row in _rows(conn, after=resume.seq):
        problem = walk.step(row)
        if problem:
            return walk.result(walk.expected, problem)
    return walk.finish(conn.execute(select(audit_head).where(audit_head.c.id == 1)).one())


# --- reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """Which events ``events`` returns; every filter given must hold."""

    subjects: Sequence[str] | None = None  # any of these subjects
    actor: str = ""
    action: str = ""  # exactly this action
    action_prefix: str = ""  # actions starting with this
    since: datetime | None = None
    until: datetime | None = None  # before this instant
    before: int | None = None  # seq below this


def events(
    conn: Connection, where: EventFilter, *, newest_first: bool = False, limit: int | None = None
) -> list[dict[str, Any]]:
    """Audit events as stored (every column, ``data`` the canonical JSON string), in chain
    order or newest first, at most ``limit``."""
    ev = audit_events
    conds: list[Any] = []
    if where.actor:
        conds.append(ev.c.actor == where.actor)
    if where.action:
        conds.append(ev.c.action == where.action)
    if where.action_prefix:
        conds.append(ev.c.action.startswith(where.action_prefix, autoescape=True))
    if where.since is not None:
        conds.append(ev.c.at >= where.since)
    if where.until is not None:
        conds.append(ev.c.at < where.until)
    if where.before is not None:
        conds.append(ev.c.seq < where.before)
    order = ev.c.seq.desc() if newest_first else ev.c.seq
    if where.subjects is None:
        query = select(ev).where(*conds).order_by(order)
        return as_dicts(conn.execute(query if limit is None else query.limit(limit)))
    found: dict[int, dict[str, Any]] = {}
    for part in chunks(sorted(set(where.subjects))):
        query = select(ev).where(ev.c.subject.in_(part), *conds).order_by(order)
        rows = conn.execute(query if limit is None else query.limit(limit))
        found.update({int(r["seq"]): r for r in as_dicts(rows)})
    return [found[seq] for seq in sorted(found, reverse=newest_first)][:limit]


def chain_head(conn: Connection) -> tuple[int, str]:
    """The last appended event's (seq, hash); (0, GENESIS) for an empty chain."""
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    return int(head.seq), str(head.hash)


def hash_at(conn: Connection, seq: int) -> str | None:
    """The stored hash of event ``seq``; None when there is no such event."""
    query = select(audit_events.c.hash).where(audit_events.c.seq == seq)
    return conn.execute(query).scalar_one_or_none()
