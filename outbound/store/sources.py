"""Webhook sources, their secrets (several live at once for rotation) and receipts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.store import audit
from outbound.store.tables import source_secrets, sources, webhook_receipts

EVENT_TYPES = (
    "shipping.dispatched",
    "membership.expiring",
    "price.dropped",
    "customer.upserted",
    "consent.changed",
    "push.receipt",  # POST /v1/receipts: the shop's app reports a push delivered / opened
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: how a source signs and what it sends: our own events (Standard Webhooks) or a shop platform's
KINDS = ("standard", "shopify", "woocommerce")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SHOP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]{0,400}$")


@dataclass(frozen=True)
class Source:
    id: int
    name: str
    events: tuple[str, ...]
    rate_per_second: int
    secrets: tuple[str, ...] = field(repr=False)
    kind: str = "standard"
    currency: str | None = None
    shop_url: str | None = None


@dataclass(frozen=True)
class Shop:
    """What a shop platform's source adds: its kind and the facts its payloads leave out."""

    kind: str = "standard"
    currency: str | None = None
    shop_url: str | None = None

    def problems(self) -> list[FieldProblem]:
        out = []
        if self.kind not in KINDS:
            out.append(
                FieldProblem("kind", self.kind, f"is not a source kind; use {', '.join(KINDS)}")
            )
        if self.kind == "standard":
            return out
        if self.currency is None or not _CURRENCY.match(self.currency):
            out.append(
                FieldProblem(
                    "currency", self.currency, "is required: ISO 4217, e.g. --currency EUR"
                )
            )
        if self.shop_url is None or not _SHOP_URL.match(self.shop_url):
            out.append(
                FieldProblem(
                    "shop_url", self.shop_url, "is required: e.g. --shop-url https://shop.example"
                )
            )
        return out


def _check(name: str, events: list[str], rate: int, shop: Shop) -> None:
    problems = shop.problems()
    if not _NAME.match(name):
        problems.append(FieldProblem("name", name, "must be 1-64 of a-z 0-9 _ - (e.g. shopify-eu)"))
    problems.extend(
        FieldProblem("events", e, f"is not an event type; known: {', '.join(EVENT_TYPES)}")
        for e in events
        if e not in EVENT_TYPES
    )
    if not 1 <= rate <= 100_000:
        problems.append(FieldProblem("rate", rate, "must be 1..100000 requests per second"))
    if problems:
        raise ValidationError(problems)


def add_source(
    conn: Connection,
    name: str,
    events: list[str],
    rate: int,
    *,
    secret: str,
    now: datetime,
    actor: str,
    shop: Shop | None = None,
) -> None:
    """Create a source with its first ``secret`` (made by the caller; never logged)."""
    shop = shop or Shop()
    _check(name, events, rate, shop)
    try:
        with conn.begin_nested():
            sid = conn.execute(
                insert(sources)
                .values(
                    name=name,
                    events=events,
                    rate_per_second=rate,
                    status="active",
                    created_at=now,
                    kind=shop.kind,
                    currency=shop.currency,
                    shop_url=shop.shop_url,
                )
                .returning(sources.c.id)
            ).scalar_one()
    except IntegrityError:
        raise ValidationError(
            [FieldProblem("name", name, "exists; use `outbound source rotate`")]
        ) from None
    conn.execute(insert(source_secrets).values(source_id=sid, secret=secret, created_at=now))
    audit.append(
        conn,
        [
            audit.Event(
                actor,
                "source.created",
                f"source:{name}",
                {"events": events, "rate_per_second": rate, "kind": shop.kind},
            )
        ],
        now,
    )


def rotate(
    conn: Connection, name: str, keep_old: timedelta, *, secret: str, now: datetime, actor: str
) -> None:
    """Add ``secret``; the current ones stay valid for ``keep_old`` so senders can switch."""
    sid = _id(conn, name)
    conn.execute(
        update(source_secrets)
        .where(
            source_secrets.c.source_id == sid,
            or_(
                source_secrets.c.expires_at.is_(None), source_secrets.c.expires_at > now + keep_old
            ),
        )
        .values(expires_at=now + keep_old)
    )
    conn.execute(insert(source_secrets).values(source_id=sid, secret=secret, created_at=now))
    audit.append(
        conn,
        [
            audit.Event(
                actor,
                "source.rotated",
                f"source:{name}",
                {"old_secrets_expire": (now + keep_old).isoformat()},
            )
        ],
        now,
    )


def _id(conn: Connection, name: str) -> int:
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


def list_sources(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "events": list(s.events),
            "rate_per_second": s.rate_per_second,
            "live_secrets": len(s.secrets),
            "currency": s.currency,
            "shop_url": s.shop_url,
        }
        for s in active_sources(conn, now)
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
