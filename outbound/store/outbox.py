"""The outbox: notifications and their deliveries (the queue), claims, leases and the reaper.

A delivery row moves ``queued -> leased -> done`` (or back to ``queued`` when deferred, retried
or reaped). Claims take due rows in batches — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
``BEGIN IMMEDIATE`` write lock on SQLite — and re-run the policy in the same transaction, where
cap reservations are taken atomically. The provider is called outside any transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from outbound.domain.values import (
    Channel,
    Decision,
    Defer,
    DeliveryStatus,
    Kind,
    NotificationStatus,
    Purpose,
    Send,
    Suppress,
    decision_to_json,
)
from outbound.policy import decide
from outbound.policy.model import NotificationView, Rules, Snapshot
from outbound.store import audit
from outbound.store.ledger import insert_ignore_stmt, release, reserve
from outbound.store.snapshots import chunks, load_snapshots
from outbound.store.tables import deliveries, notifications


@dataclass(frozen=True)
class NewNotification:
    kind: Kind
    purpose: Purpose
    customer_id: int
    payload: dict[str, Any]
    dedupe_key: str
    expires_at: datetime | None
    source: str
    campaign_id: int | None = None
    channels: tuple[Channel, ...] | None = None  # replaces the customer's preference


@dataclass(frozen=True)
class Enqueued:
    notification_id: int
    created: bool
    dedupe_key: str
    decision: Decision | None


def decision_record(decision: Decision, now: datetime, rung: int) -> dict[str, Any]:
    return {"at": now.isoformat(), "rung": rung, **decision_to_json(decision)}


def decision_summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the audit row keeps of a decision record: its verdict and every rule that said no."""
    failed = [s for s in record["trace"] if not s["ok"]]
    return {
        **{k: v for k, v in record.items() if k not in ("at", "rung")},
        "trace": failed or "all rules passed",
    }


def _status_for(decision: Decision, rung: int) -> NotificationStatus:
    if not isinstance(decision, Suppress):
        return NotificationStatus.PENDING
    if decision.reason.startswith("expired") or decision.reason.startswith("expires"):
        return NotificationStatus.EXPIRED
    return NotificationStatus.EXHAUSTED if rung > 0 else NotificationStatus.SUPPRESSED


def _existing(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(list(keys)):
        rows = conn.execute(
            select(notifications.c.id, notifications.c.dedupe_key).where(
                notifications.c.dedupe_key.in_(part)
            )
        )
        found.update({r.dedupe_key: int(r.id) for r in rows})
    return found


def enqueue(
    conn: Connection, items: Sequence[NewNotification], *, rules: Rules, now: datetime, actor: str
) -> list[Enqueued]:
    """Create notifications with their first plan; a known dedupe key returns the original."""
    existing = _existing(conn, [i.dedupe_key for i in items])
    fresh = list({i.dedupe_key: i for i in items if i.dedupe_key not in existing}.values())
    snaps = load_snapshots(conn, [i.customer_id for i in fresh], now)
    planned = [(i, _plan(i, snaps[i.customer_id], rules)) for i in fresh if i.customer_id in snaps]
    records = {i.dedupe_key: decision_record(d, now, 0) for i, d in planned}
    rows = [
        {
            "kind": i.kind.value,
            "purpose": i.purpose.value,
            "customer_id": i.customer_id,
            "payload": i.payload,
            "dedupe_key": i.dedupe_key,
            "campaign_id": i.campaign_id,
            "source": i.source,
            "status": _status_for(d, 0).value,
            "created_at": now,
            "expires_at": i.expires_at,
            "decisions": [records[i.dedupe_key]],
            "channels": [c.value for c in i.channels] if i.channels is not None else None,
        }
        for i, d in planned
    ]
    ids = _insert_notifications(conn, rows)
    new_rows, events, results = [], [], {}
    for item, decision in planned:
        nid = ids.get(item.dedupe_key)
        if nid is None:  # lost a race with a concurrent identical event
            continue
        results[item.dedupe_key] = Enqueued(nid, True, item.dedupe_key, decision)
        if not isinstance(decision, Suppress):
            new_rows.append(_delivery_row(nid, decision, 0, now))
        events.append(
            audit.Event(
                actor,
                "notification.created",
                f"notification#{nid}",
                {
                    "kind": item.kind.value,
                    "customer": item.customer_id,
                    "source": item.source,
                    "dedupe_key": item.dedupe_key,
                    "decision": decision_summary(records[item.dedupe_key]),
                },
            )
        )
    if new_rows:
        conn.execute(deliveries.insert(), new_rows)
    audit.append(conn, events, now)
    late = _existing(conn, [i.dedupe_key for i in items if i.dedupe_key not in results])
    return [
        results.get(i.dedupe_key) or Enqueued(late[i.dedupe_key], False, i.dedupe_key, None)
        for i in items
    ]


def _plan(item: NewNotification, snap: Snapshot, rules: Rules) -> Decision:
    view = NotificationView(item.kind, item.purpose, item.expires_at, item.channels)
    return decide(view, snap, rules)


def _insert_notifications(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert, skipping dedupe keys a concurrent twin already wrote; returns the new ids."""
    if not rows:
        return {}
    stmt = insert_ignore_stmt(conn, notifications, ["dedupe_key"]).returning(
        notifications.c.id, notifications.c.dedupe_key
    )
    return {r.dedupe_key: int(r.id) for r in conn.execute(stmt, rows)}


def _delivery_row(nid: int, decision: Send | Defer, rung: int, now: datetime) -> dict[str, Any]:
    due = decision.at if isinstance(decision, Send) else decision.until
    channel = decision.channel
    return {
        "notification_id": nid,
        "channel": channel.value if channel else None,
        "rung": rung,
        "due_at": due,
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "detail": {},
        "created_at": now,
        "updated_at": now,
    }


# --- claims -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    notification_id: int
    customer_id: int
    kind: Kind
    channel: Channel
    payload: dict[str, Any]
    rung: int
    attempts: int
    caps: tuple[str, ...]
    #: the subset of ``caps`` this claim reserved (the rest were held from an earlier lease)
    fresh_caps: tuple[str, ...] = ()


def _take(
    conn: Connection,
    owner: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    serves: frozenset[Channel] | None,
) -> list[Any]:
    due = select(deliveries.c.id).where(
        deliveries.c.status == DeliveryStatus.QUEUED.value, deliveries.c.due_at <= now
    )
    if serves is not None:  # unplanned rungs (NULL channel) are anyone's to decide
        due = due.where(
            or_(deliveries.c.channel.is_(None), deliveries.c.channel.in_([c.value for c in serves]))
        )
    due = due.order_by(deliveries.c.due_at).limit(limit).with_for_update(skip_locked=True)
    stmt = (
        update(deliveries)
        .where(deliveries.c.id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryStatus.LEASED.value,
            lease_until=now + lease,
            lease_owner=owner,
            attempts=deliveries.c.attempts + 1,
            updated_at=now,
        )
        .returning(*deliveries.c)
    )
    return list(conn.execute(stmt).all())


def tried_channels(done: Sequence[Any], voice_retries: int) -> frozenset[Channel]:
    """Channels the ladder has used up; voice no-answer/busy gets ``voice_retries`` more tries."""
    tried: set[Channel] = set()
    voice_misses = 0
    for row in done:
        if row.outcome is None or row.channel is None:
            continue
        if row.channel == Channel.VOICE.value and row.outcome in ("no_answer", "busy"):
            voice_misses += 1
            if voice_misses <= voice_retries:
                continue
        tried.add(Channel(row.channel))
    return frozenset(tried)


def claim(
    conn: Connection,
    *,
    owner: str,
    limit: int,
    lease: timedelta,
    now: datetime,
    rules: Rules,
    voice_retries: int,
    actor: str = "dispatcher",
    serves: frozenset[Channel] | None = None,
) -> list[Claimed]:
    """Lease due deliveries, re-check policy, reserve caps; return those to send now."""
    taken = _take(conn, owner, limit, lease, now, serves)
    if not taken:
        return []
    nids = sorted({r.notification_id for r in taken})
    notes = {
        r.id: r for r in conn.execute(select(notifications).where(notifications.c.id.in_(nids)))
    }
    history: dict[int, list[Any]] = defaultdict(list)
    for r in conn.execute(
        select(deliveries).where(deliveries.c.notification_id.in_(nids)).order_by(deliveries.c.id)
    ):
        history[r.notification_id].append(r)
    snaps = load_snapshots(conn, [n.customer_id for n in notes.values()], now)
    out: list[Claimed] = []
    events: list[audit.Event] = []
    # one global lock order for cap counters (customer, then key): no deadlock between batches
    for row in sorted(taken, key=lambda r: (notes[r.notification_id].customer_id, r.id)):
        note = notes[row.notification_id]
        tried = tried_channels(history[note.id], voice_retries)  # per notification, not customer
        snap = replace(snaps[note.customer_id], tried=tried)
        claimed = _recheck(conn, row, note, snap, rules, now, actor, events, serves)
        if claimed is not None:
            out.append(claimed)
            snaps[note.customer_id] = _with_reserved(snaps[note.customer_id], claimed.fresh_caps)
    audit.append(conn, events, now)
    return out


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
    now: datetime,
    actor: str,
    events: list[audit.Event],
    serves: frozenset[Channel] | None = None,
) -> Claimed | None:
    if note.status != NotificationStatus.PENDING.value:
        _finish(
            conn, row.id, DeliveryStatus.SUPPRESSED, now, {"reason": f"notification {note.status}"}
        )
        return None
    channels = tuple(Channel(c) for c in note.channels) if note.channels is not None else None
    view = NotificationView(Kind(note.kind), Purpose(note.purpose), note.expires_at, channels)
    decision = decide(view, _own_reservations(snap, row.caps_reserved), rules)
    record = decision_record(decision, now, row.rung)
    _log_decision(conn, note, record)
    events.append(
        audit.Event(
            actor,
            "delivery.decided",
            f"delivery#{row.id}",
            {"notification": note.id, "rung": row.rung, "decision": decision_summary(record)},
        )
    )
    if isinstance(decision, Send) and (serves is None or decision.channel in serves):
        return _reserve_and_claim(conn, row, note, decision, now)
    release(conn, row.caps_reserved or [])
    if isinstance(decision, Send):  # hand over to a worker of that channel (e.g. a dialer)
        decision = Defer(now, decision.channel, "handed to a worker of this channel")
    if isinstance(decision, Defer):
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(
                status=DeliveryStatus.QUEUED.value,
                due_at=decision.until,
                lease_until=None,
                lease_owner=None,
                attempts=row.attempts - 1,
                caps_reserved=None,
                updated_at=now,
                channel=decision.channel.value if decision.channel else row.channel,
            )
        )
        return None
    status = _status_for(decision, row.rung)
    final = (
        DeliveryStatus.EXPIRED
        if status is NotificationStatus.EXPIRED
        else DeliveryStatus.SUPPRESSED
    )
    _finish(conn, row.id, final, now, {"reason": decision.reason})
    set_notification_status(conn, note.id, status)
    return None


def _reserve_and_claim(
    conn: Connection, row: Any, note: Any, decision: Send, now: datetime
) -> Claimed | None:
    held = list(row.caps_reserved or [])
    wanted = [c for c in decision.caps if c.key not in held]
    stale = [k for k in held if k not in {c.key for c in decision.caps}]
    keys, full = reserve(conn, wanted)
    if full is not None:  # a concurrent worker took the last unit: decide again shortly
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(
                status=DeliveryStatus.QUEUED.value,
                due_at=now + timedelta(seconds=5),
                lease_until=None,
                lease_owner=None,
                attempts=row.attempts - 1,
                updated_at=now,
            )
        )
        return None
    release(conn, stale)
    caps = tuple(k for k in held if k not in stale) + tuple(keys)
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == row.id)
        .values(channel=decision.channel.value, caps_reserved=list(caps))
    )
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


def _log_decision(conn: Connection, note: Any, record: dict[str, Any]) -> None:
    log = [*note.decisions, record][-50:]
    conn.execute(update(notifications).where(notifications.c.id == note.id).values(decisions=log))


def _finish(
    conn: Connection,
    delivery_id: int,
    status: DeliveryStatus,
    now: datetime,
    detail: dict[str, Any],
    outcome: str | None = None,
    provider_ref: str | None = None,
) -> None:
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status=status.value,
            lease_until=None,
            updated_at=now,
            detail=detail,
            outcome=outcome,
            provider_ref=provider_ref,
        )
    )


def set_notification_status(conn: Connection, nid: int, status: NotificationStatus) -> None:
    conn.execute(update(notifications).where(notifications.c.id == nid).values(status=status.value))


def reap(conn: Connection, now: datetime) -> int:
    """Expired leases go back to the queue (their cap reservations stay with them)."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.status == DeliveryStatus.LEASED.value, deliveries.c.lease_until < now)
        .values(
            status=DeliveryStatus.QUEUED.value, lease_until=None, lease_owner=None, updated_at=now
        )
    )
    return int(result.rowcount or 0)


def in_flight_or_due(conn: Connection, horizon: datetime, serves: frozenset[Channel]) -> int:
    """Leased deliveries plus queued ones for these channels due before ``horizon``."""
    channels = [c.value for c in serves]
    due = (
        (deliveries.c.status == DeliveryStatus.QUEUED.value)
        & (deliveries.c.due_at <= horizon)
        & or_(deliveries.c.channel.is_(None), deliveries.c.channel.in_(channels))
    )
    leased = deliveries.c.status == DeliveryStatus.LEASED.value
    query = select(func.count()).select_from(deliveries).where(or_(due, leased))
    return int(conn.execute(query).scalar_one())
