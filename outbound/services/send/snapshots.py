"""Policy snapshots (``policy.model.Snapshot``) built from the rows the store loads in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import NotFoundError
from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.policy.model import ConsentRecord, CustomerView, Snapshot
from outbound.store.snapshots import CustomerRows, load_customer_rows


def _consent(r: Any) -> ConsentRecord:
    return ConsentRecord(
        channel=Channel(r.channel) if r.channel else None,
        purpose=Purpose(r.purpose) if r.purpose else None,
        action=ConsentAction(r.action),
        at=r.at,
        written=bool(r.written),
        source=r.source,
    )


def snapshot_of(rows: CustomerRows, now: datetime, tried: frozenset[Channel]) -> Snapshot:
    r = rows.customer
    view = CustomerView(
        id=r.id,
        country=r.country,
        timezone=r.timezone,
        phone_e164=r.phone_e164,
        has_push=rows.has_push,
        preference=tuple(Channel(c) for c in rows.preference),
        suppressed=rows.suppressed,
        state=r.state,
    )
    return Snapshot(
        customer=view,
        consents=tuple(_consent(c) for c in rows.consents),
        counters=dict(rows.counters),
        now=now,
        tried=tried,
    )


def snapshots_of(
    rows: Mapping[int, CustomerRows],
    now: datetime,
    tried: dict[int, frozenset[Channel]] | None = None,
) -> dict[int, Snapshot]:
    """Snapshots of customers whose rows were read already (``store.snapshots.send_view``)."""
    return {
        cid: snapshot_of(found, now, (tried or {}).get(cid, frozenset()))
        for cid, found in rows.items()
    }


def load_snapshots(
    conn: Connection,
    customer_ids: Iterable[int],
    now: datetime,
    tried: dict[int, frozenset[Channel]] | None = None,
) -> dict[int, Snapshot]:
    """Snapshots of many customers; unknown ids are simply absent from the result."""
    return snapshots_of(load_customer_rows(conn, customer_ids), now, tried)


def load_snapshot(
    conn: Connection, customer_id: int, now: datetime, tried: frozenset[Channel] = frozenset()
) -> Snapshot:
    snaps = load_snapshots(conn, [customer_id], now, {customer_id: tried})
    if customer_id not in snaps:
        raise NotFoundError(f"customer #{customer_id} not found")
    return snaps[customer_id]
