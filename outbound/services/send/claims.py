"""Claiming due deliveries: lease, re-check the policy, reserve caps — one transaction.

Consent may have been revoked or a cap used up since the plan was made, so the policy runs
again on every leased row. Cap reservations are atomic conditional UPDATEs taken in one global
lock order (customer, then key), so concurrent batches never deadlock or overshoot a cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from outbound.domain.records import decision_record, decision_summary
from outbound.domain.trace import Note
from outbound.domain.values import (
    CapCheck,
    Channel,
    Defer,
    DeliveryStatus,
    Kind,
    NotificationStatus,
    Purpose,
    Send,
    Suppress,
)
from outbound.observability import metrics
from outbound.policy import decide
from outbound.policy.ladder import (
    Ladder,
    suppressed_delivery,
    suppressed_status,
    tried_channels,
    voice_attempt_times,
)
from outbound.policy.model import NotificationView, Rules, Snapshot
from outbound.services.send.snapshots import load_snapshots
from outbound.store import audit, outbox
from outbound.store.ledger import add_many, ensure_counters, release, reserve, serialized
from outbound.store.outbox import Claimed


@dataclass(frozen=True)
class ClaimRequest:
    owner: str
    limit: int
    lease: timedelta
    now: datetime
    serves: frozenset[Channel] | None = None
    actor: str = "dispatcher"


def claim(
    conn: Connection, request: ClaimRequest, *, rules: Rules, ladder: Ladder
) -> list[Claimed]:
    """Lease due deliveries, re-check policy, reserve caps; return those to send now."""
    now = request.now
    taken = outbox.lease(
        conn,
        owner=request.owner,
        limit=request.limit,
        lease=request.lease,
        now=now,
        serves=request.serves,
    )
    if not taken:
        return []
    notes = outbox.notifications_by_id(conn, [r.notification_id for r in taken])
    history = outbox.histories(conn, list(notes))
    snaps = load_snapshots(conn, [n.customer_id for n in notes.values()], now)
    writes = _Writes(serialized=serialized(conn))
    out: list[Claimed] = []
    # one global lock order for cap counters (customer, then key): no deadlock between batches
    for row in sorted(taken, key=lambda r: (notes[r.notification_id].customer_id, r.id)):
        note = notes[row.notification_id]
        calls = history[note.id]  # per notification
        tried = tried_channels(calls, ladder)
        snap = replace(
            snaps[note.customer_id], tried=tried, voice_attempts=voice_attempt_times(calls)
        )
        claimed = _recheck(conn, row, note, snap, rules, ladder, request, writes)
        if claimed is not None:
            out.append(claimed)
            snaps[note.customer_id] = _with_reserved(snaps[note.customer_id], claimed.fresh_caps)
    writes.flush(conn, now)
    return out


@dataclass
class _Writes:
    """What a claim batch writes besides its leases, flushed in a few statements at the end."""

    decisions: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    claimed: list[tuple[int, Channel, Sequence[str]]] = field(default_factory=list)
    events: list[audit.Event] = field(default_factory=list)
    serialized: bool = False  # the claim holds the database write lock (SQLite)
    reserved: list[CapCheck] = field(default_factory=list)  # checked reservations to count

    def decided(self, note_id: int, record: dict[str, Any]) -> None:
        self.decisions.append((note_id, record))

    def flush(self, conn: Connection, now: datetime) -> None:
        ensure_counters(conn, self.reserved)
        add_many(conn, [c.key for c in self.reserved])
        outbox.append_decisions(conn, self.decisions)
        outbox.set_claimed_many(conn, self.claimed)
        audit.append(conn, self.events, now)


def _with_reserved(snap: Snapshot, keys: Sequence[str]) -> Snapshot:
    """The snapshot as the next delivery of the same batch must see it."""
    counters = dict(snap.counters)
    for key in keys:
        counters[key] = counters.get(key, 0) + 1
    return replace(snap, counters=counters)


def _own_reservations(snap: Snapshot, reserved: Sequence[str] | None) -> Snapshot:
    """A re-claimed delivery (reaped lease) must not be blocked by its own reservation."""
    if not reserved:
        return snap
    counters = dict(snap.counters)
    for key in reserved:
        counters[key] = max(counters.get(key, 0) - 1, 0)
    return replace(snap, counters=counters)


def _recheck(
    conn: Connection,
    row: Any,
    note: Any,
    snap: Snapshot,
    rules: Rules,
    ladder: Ladder,
    request: ClaimRequest,
    writes: _Writes,
) -> Claimed | None:
    now = request.now
    if note.status != NotificationStatus.PENDING.value:
        reason = {"reason": f"notification {note.status}"}
        outbox.finish(conn, row.id, DeliveryStatus.SUPPRESSED, now, reason)
        return None
    channels = tuple(Channel(c) for c in note.channels) if note.channels is not None else None
    view = NotificationView(Kind(note.kind), Purpose(note.purpose), note.expires_at, channels)
    decision = decide(view, _own_reservations(snap, row.caps_reserved), rules)
    metrics.observe_decision(decision)
    record = decision_record(decision, now, row.rung)
    writes.decided(note.id, record)
    data = {"notification": note.id, "rung": row.rung, "decision": decision_summary(record)}
    writes.events.append(audit.Event(request.actor, "delivery.decided", f"delivery#{row.id}", data))
    serves = request.serves
    if isinstance(decision, Send) and (serves is None or decision.channel in serves):
        return _reserve_and_claim(conn, row, note, decision, snap, ladder, now, writes)
    release(conn, row.caps_reserved or [])
    if isinstance(decision, Send):  # hand over to a worker of that channel (e.g. a dialer)
        decision = Defer(now, decision.channel, Note("wait:handover"))
    if isinstance(decision, Defer):
        channel = decision.channel.value if decision.channel else row.channel
        outbox.requeue(
            conn,
            row.id,
            due=decision.until,
            attempts=row.attempts - 1,
            now=now,
            channel=channel,
            caps=None,
        )
        return None
    _suppress(conn, row, note, decision, now)
    return None


def _suppress(conn: Connection, row: Any, note: Any, decision: Suppress, now: datetime) -> None:
    outbox.finish(conn, row.id, suppressed_delivery(decision), now, {"reason": decision.reason})
    outbox.set_notification_status(conn, note.id, suppressed_status(decision, row.rung))


def _reserve_and_claim(
    conn: Connection,
    row: Any,
    note: Any,
    decision: Send,
    snap: Snapshot,
    ladder: Ladder,
    now: datetime,
    writes: _Writes,
) -> Claimed | None:
    held = list(row.caps_reserved or [])
    wanted = [c for c in decision.caps if c.key not in held]
    stale = [k for k in held if k not in {c.key for c in decision.caps}]
    if writes.serialized:  # the policy checked these caps against counters no one can change
        keys, full = [c.key for c in wanted], None
        writes.reserved.extend(wanted)
    else:
        keys, full = reserve(conn, wanted, past=snap.counters)
    if full is not None:  # a concurrent worker took the last unit: decide again shortly
        outbox.requeue(
            conn, row.id, due=now + ladder.recheck_delay, attempts=row.attempts - 1, now=now
        )
        return None
    release(conn, stale)
    caps = tuple(k for k in held if k not in stale) + tuple(keys)
    writes.claimed.append((row.id, decision.channel, caps))
    return Claimed(
        row.id,
        note.id,
        note.customer_id,
        Kind(note.kind),
        decision.channel,
        dict(note.payload),
        row.rung,
        row.attempts,
        caps,
        tuple(keys),
    )
