"""Webhook sources, their secrets (several live at once for rotation) and receipts: the rows.

The checks, the audit events and the replay rule are ``outbound.services.intake``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from outbound.domain.errors import NotFoundError
from outbound.store.tables import source_secrets, sources, webhook_receipts


@dataclass(frozen=True)
class Source:
    id: int
    name: str
    events: tuple[str, ...]
    rate_per_second: int
    secrets: tuple[str, ...] = field(repr=False)
    #: standard (our events, Standard Webhooks) | shopify | woocommerce
    kind: str = "standard"
    currency: str | None = None  # a shop platform's: what its payloads leave out
    shop_url: str | None = None


def insert_source(
    conn: Connection,
    name: str,
    events: list[str],
    rate: int,
    now: datetime,
    shop: tuple[str, str | None, str | None] = ("standard", None, None),
) -> int | None:
    """A new active source's id; None when the name is taken (nothing is written then).
    ``shop``: its kind, currency and shop URL."""
    kind, currency, shop_url = shop
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    insert(sources)
                    .values(
                        name=name,
                        events=events,
                        rate_per_second=rate,
                        status="active",
                        created_at=now,
                        kind=kind,
                        currency=currency,
                        shop_url=shop_url,
                    )
                    .returning(sources.c.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None


def add_secret(conn: Connection, source_id: int, secret: str, now: datetime) -> None:
    conn.execute(insert(source_secrets).values(source_id=source_id, secret=secret, created_at=now))


def expire_secrets(conn: Connection, source_id: int, at: datetime) -> None:
    """The source's secrets live past ``at`` (or forever) expire at ``at``."""
    conn.execute(
        update(source_secrets)
        .where(
            source_secrets.c.source_id == source_id,
            or_(source_secrets.c.expires_at.is_(None), source_secrets.c.expires_at > at),
        )
        .values(expires_at=at)
    )


def source_id(conn: Connection, name: str) -> int:
    sid = conn.execute(select(sources.c.id).where(sources.c.name == name)).scalar_one_or_none()
    if sid is None:
        raise NotFoundError(f"source {name!r} not found; see: outbound source list")
    return int(sid)


def active_sources(conn: Connection, now: datetime) -> list[Source]:
    rows = conn.execute(
        select(sources).where(sources.c.status == "active").order_by(sources.c.id)
    ).all()
    live: dict[int, list[str]] = {}
    for r in conn.execute(
        select(source_secrets)
        .where(or_(source_secrets.c.expires_at.is_(None), source_secrets.c.expires_at > now))
        .order_by(source_secrets.c.id.desc())
    ):
        live.setdefault(r.source_id, []).append(r.secret)
    return [
        Source(
            r.id,
            r.name,
            tuple(r.events),
            r.rate_per_second,
            tuple(live.get(r.id, ())),
            r.kind,
            r.currency,
            r.shop_url,
        )
        for r in rows
    ]


def find_receipt(conn: Connection, source_id: int, webhook_id: str) -> Any:
    return conn.execute(
        select(webhook_receipts).where(
            webhook_receipts.c.source_id == source_id, webhook_receipts.c.webhook_id == webhook_id
        )
    ).first()


def find_receipts(conn: Connection, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    """Many (source id, webhook-id) at once, for a group of events: the receipts that exist."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = conn.execute(
        select(webhook_receipts).where(
            webhook_receipts.c.source_id.in_({s for s, _ in wanted}),
            webhook_receipts.c.webhook_id.in_({w for _, w in wanted}),
        )
    ).all()
    return {(r.source_id, r.webhook_id): r for r in rows if (r.source_id, r.webhook_id) in wanted}


def receipt_row(
    source_id: int,
    webhook_id: str,
    body_sha256: str,
    status_code: int,
    response: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "webhook_id": webhook_id,
        "body_sha256": body_sha256,
        "status_code": status_code,
        "response": response,
        "created_at": now,
    }


def store_receipt(
    conn: Connection,
    source_id: int,
    webhook_id: str,
    body_sha256: str,
    status_code: int,
    response: dict[str, Any],
    now: datetime,
) -> None:
    store_receipts(
        conn, [receipt_row(source_id, webhook_id, body_sha256, status_code, response, now)]
    )


def store_receipts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert receipts made by ``receipt_row`` (one executemany for a group of events)."""
    if rows:
        conn.execute(insert(webhook_receipts), rows)
