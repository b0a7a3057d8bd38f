"""Build policy snapshots in bulk: a handful of IN-queries per chunk of customers, not per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select

from outbound.domain.errors import NotFoundError
from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.policy.model import ConsentRecord, CustomerView, Snapshot
from outbound.store.tables import (
    cap_counters,
    consents,
    customers,
    preferences,
    push_subscriptions,
    suppressions,
)

CHUNK = 900


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _consents(conn: Connection, ids: Sequence[int]) -> dict[int, list[ConsentRecord]]:
    out: dict[int, list[ConsentRecord]] = defaultdict(list)
    rows = conn.execute(
        select(consents).where(consents.c.customer_id.in_(ids)).order_by(consents.c.id)
    )
    for r in rows:
        out[r.customer_id].append(
            ConsentRecord(
                channel=Channel(r.channel) if r.channel else None,
                purpose=Purpose(r.purpose) if r.purpose else None,
                action=ConsentAction(r.action),
                at=r.at,
                written=bool(r.written),
                source=r.source,
            )
        )
    return out


def _counters(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(dict)
    query = select(cap_counters.c.customer_id, cap_counters.c.key, cap_counters.c.n).where(
        cap_counters.c.customer_id.in_(ids)
    )
    for r in conn.execute(query):
        out[int(r.customer_id)][r.key] = int(r.n)
    return out


def _suppressed(conn: Connection, rows: Iterable[Any]) -> dict[int, str]:
    by_phone = {r.phone_e164: r.id for r in rows if r.phone_e164}
    ids = [r.id for r in rows]
    out: dict[int, str] = {}
    query = select(suppressions.c.customer_id, suppressions.c.phone_e164, suppressions.c.reason)
    cond: ColumnElement[bool] = suppressions.c.customer_id.in_(ids)
    if by_phone:
        cond = or_(cond, suppressions.c.phone_e164.in_(list(by_phone)))
    for r in conn.execute(query.where(cond)):
        cid = r.customer_id if r.customer_id in ids else by_phone.get(r.phone_e164)
        if cid is not None:
            out.setdefault(int(cid), r.reason)
    return out


def load_snapshots(
    conn: Connection,
    customer_ids: Iterable[int],
    now: datetime,
    tried: dict[int, frozenset[Channel]] | None = None,
) -> dict[int, Snapshot]:
    """Snapshots of many customers; unknown ids are simply absent from the result."""
    result: dict[int, Snapshot] = {}
    for ids in chunks(sorted(set(customer_ids))):
        rows = conn.execute(select(customers).where(customers.c.id.in_(ids))).all()
        prefs: dict[int, list[Channel]] = defaultdict(list)
        for p in conn.execute(
            select(preferences).where(preferences.c.customer_id.in_(ids)).order_by("rank")
        ):
            prefs[p.customer_id].append(Channel(p.channel))
        push = set(
            conn.execute(
                select(push_subscriptions.c.customer_id)
                .where(push_subscriptions.c.customer_id.in_(ids))
                .distinct()
            ).scalars()
        )
        consent_map, counters, suppressed = (
            _consents(conn, ids),
            _counters(conn, ids),
            _suppressed(conn, rows),
        )
        for r in rows:
            view = CustomerView(
                id=r.id,
                country=r.country,
                timezone=r.timezone,
                phone_e164=r.phone_e164,
                has_push=r.id in push,
                preference=tuple(prefs.get(r.id, ())),
                suppressed=suppressed.get(r.id),
            )
            result[r.id] = Snapshot(
                customer=view,
                consents=tuple(consent_map.get(r.id, ())),
                counters=counters.get(r.id, {}),
                now=now,
                tried=(tried or {}).get(r.id, frozenset()),
            )
    return result


def load_snapshot(
    conn: Connection, customer_id: int, now: datetime, tried: frozenset[Channel] = frozenset()
) -> Snapshot:
    snaps = load_snapshots(conn, [customer_id], now, {customer_id: tried})
    if customer_id not in snaps:
        raise NotFoundError(f"customer #{customer_id} not found")
    return snaps[customer_id]
