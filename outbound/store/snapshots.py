"""What policy decisions read, loaded in bulk: a handful of IN-queries per chunk of customers.

Plain rows only; ``outbound.services.snapshots`` turns them into policy snapshots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select

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


def _consents(conn: Connection, ids: Sequence[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    rows = conn.execute(
        select(consents).where(consents.c.customer_id.in_(ids)).order_by(consents.c.id)
    )
    for r in rows:
        out[r.customer_id].append(r)
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


@dataclass(frozen=True)
class CustomerRows:
    """What the policy needs to know of one customer, as stored (plain rows and values)."""

    customer: Any  # the customers row
    preference: tuple[str, ...]  # channels by rank
    has_push: bool
    consents: tuple[Any, ...]  # consents rows, oldest first
    counters: dict[str, int]  # cap counter key -> n
    suppressed: str | None  # the reason of a suppression list entry


def load_customer_rows(conn: Connection, customer_ids: Iterable[int]) -> dict[int, CustomerRows]:
    """Many customers in a handful of IN-queries per chunk; unknown ids are simply absent."""
    result: dict[int, CustomerRows] = {}
    for ids in chunks(sorted(set(customer_ids))):
        rows = conn.execute(select(customers).where(customers.c.id.in_(ids))).all()
        prefs: dict[int, list[str]] = defaultdict(list)
        for p in conn.execute(
            select(preferences).where(preferences.c.customer_id.in_(ids)).order_by("rank")
        ):
            prefs[p.customer_id].append(p.channel)
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
            result[r.id] = CustomerRows(
                customer=r,
                preference=tuple(prefs.get(r.id, ())),
                has_push=r.id in push,
                consents=tuple(consent_map.get(r.id, ())),
                counters=counters.get(r.id, {}),
                suppressed=suppressed.get(r.id),
            )
    return result
