"""Events become notifications: the one send path of the CLI, the webhooks, campaigns and demo.

``notify`` (one customer by reference), ``notify_all`` (known customers, e.g. a campaign's
chunk) and ``price_drop_fanout`` (everyone wishing for a SKU) all validate the payload with the
shared model, build the request (dedupe key, expiry) and ``enqueue`` it, so a repeated event
returns the existing notification and never sends twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.domain.values import KIND_PURPOSE, Channel, Kind
from outbound.policy.model import Rules
from outbound.schemas.payloads import Payload, parse_payload
from outbound.services.send import planning
from outbound.services.templates.sizes import SizeLimits, check_sizes
from outbound.store import outbox
from outbound.store.customers import customer_id_for, customers_with_sku
from outbound.store.tables import customers

Enqueued = outbox.Enqueued
UNKNOWN_CUSTOMER = (
    "is not a known customer; add it first (outbound customer import, or a customer.upserted event)"
)


def parse_kind(raw: str) -> Kind:
    try:
        return Kind(raw)
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise ValidationError(
            [FieldProblem("kind", raw, f"is not a notification kind; use {known}")]
        ) from None


def dedupe_key(kind: Kind, customer_id: int, payload: Mapping[str, Any]) -> str:
    if kind is Kind.SHIPPING:
        shipment = payload.get("shipment_id") or payload["tracking_no"]
        return f"shipping:{customer_id}:{payload['order_id']}:{shipment}"
    if kind is Kind.RENEWAL:
        return f"renewal:{customer_id}:{payload['expires_on']}"
    return f"price_drop:{customer_id}:{payload['sku']}:{payload['new_price']}"


@dataclass(frozen=True)
class Expiry:
    shipping: timedelta = timedelta(hours=72)
    price_drop: timedelta = timedelta(hours=24)

    def expires_at(
        self, kind: Kind, payload: Mapping[str, Any], now: datetime, tz: str | None
    ) -> datetime:
        if kind is Kind.RENEWAL:
            # after the expiry date ends in the customer's zone, a reminder is pointless
            zone = ZoneInfo(tz) if tz else UTC
            day = date.fromisoformat(payload["expires_on"]) + timedelta(days=1)
            return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        return now + (self.shipping if kind is Kind.SHIPPING else self.price_drop)


@dataclass(frozen=True)
class Recipient:
    """A customer already looked up: its id and (for renewal expiry) its time zone."""

    id: int
    timezone: str | None = None


def prepare(
    kind: Kind,
    customer_id: int,
    customer_tz: str | None,
    raw_payload: Mapping[str, Any] | Payload,
    *,
    now: datetime,
    expiry: Expiry,
    source: str,
    campaign_id: int | None = None,
    channels: tuple[Channel, ...] | None = None,
) -> outbox.NewNotification:
    """The request for one customer (validated payload, dedupe key, expiry); writes nothing."""
    payload = parse_payload(kind, raw_payload).as_dict()
    return outbox.NewNotification(
        kind=kind,
        purpose=KIND_PURPOSE[kind],
        customer_id=customer_id,
        payload=payload,
        dedupe_key=dedupe_key(kind, customer_id, payload),
        expires_at=expiry.expires_at(kind, payload, now, customer_tz),
        source=source,
        campaign_id=campaign_id,
        channels=channels,
    )


def enqueue(
    conn: Connection,
    items: Sequence[outbox.NewNotification],
    *,
    rules: Rules,
    now: datetime,
    actor: str,
) -> list[outbox.Enqueued]:
    """Plan and store notifications in the caller's transaction; duplicates return the original."""
    return planning.enqueue(conn, items, rules=rules, now=now, actor=actor)


def notify_all(
    conn: Connection,
    *,
    kind: Kind,
    items: Iterable[tuple[Recipient, Mapping[str, Any] | Payload]],
    source: str,
    actor: str,
    now: datetime,
    rules: Rules,
    expiry: Expiry,
    campaign_id: int | None = None,
    channels: tuple[Channel, ...] | None = None,
) -> list[outbox.Enqueued]:
    """Validate, build and enqueue one notification per (recipient, payload), in one call."""
    requests = [
        prepare(
            kind,
            who.id,
            who.timezone,
            payload,
            now=now,
            expiry=expiry,
            source=source,
            campaign_id=campaign_id,
            channels=channels,
        )
        for who, payload in items
    ]
    return enqueue(conn, requests, rules=rules, now=now, actor=actor)


def recipient(conn: Connection, ref: str, *, field: str = "customer") -> Recipient:
    """Resolve an external id (or ``#<id>``); an unknown one is a problem of ``field``."""
    try:
        cid = customer_id_for(conn, ref)
    except NotFoundError:  # a field problem the sender can fix
        raise ValidationError([FieldProblem(field, ref, UNKNOWN_CUSTOMER)]) from None
    zone = conn.execute(select(customers.c.timezone).where(customers.c.id == cid)).scalar_one()
    return Recipient(cid, zone)


def recipients(
    conn: Connection, refs: Iterable[str], *, field: str = "customer"
) -> dict[str, Recipient | FieldProblem]:
    """``recipient`` for many references: external ids in one query, the rest one at a time."""
    wanted = set(refs)
    rows = conn.execute(
        select(customers.c.external_id, customers.c.id, customers.c.timezone).where(
            customers.c.external_id.in_(wanted)
        )
    ).all()
    found: dict[str, Recipient | FieldProblem] = {
        r.external_id: Recipient(r.id, r.timezone) for r in rows
    }
    for ref in wanted - found.keys():  # ``#<id>`` references, and unknown customers
        try:
            found[ref] = recipient(conn, ref, field=field)
        except ValidationError as exc:
            found[ref] = exc.problems[0]
    return found


def notify(
    conn: Connection,
    *,
    kind: Kind,
    customer_ref: str,
    payload: Mapping[str, Any] | Payload,
    source: str,
    actor: str,
    now: datetime,
    rules: Rules,
    expiry: Expiry,
    channels: tuple[Channel, ...] | None = None,
    ref_field: str = "customer",
    limits: SizeLimits | None = None,
) -> list[outbox.Enqueued]:
    """One event for one customer, in the caller's transaction.

    An unknown customer is a problem of ``ref_field``, reported together with the payload's
    (and with a message too long to send, when ``limits`` are given).
    """
    found: list[FieldProblem] = []
    try:
        who = recipient(conn, customer_ref, field=ref_field)
    except ValidationError as exc:
        found += exc.problems
    try:
        valid = parse_payload(kind, payload)
        if limits is not None:
            check_sizes(kind, valid.as_dict(), limits)
    except ValidationError as exc:
        found += exc.problems
    if found:
        raise ValidationError(found)
    return notify_all(
        conn,
        kind=kind,
        items=[(who, valid)],
        source=source,
        actor=actor,
        now=now,
        rules=rules,
        expiry=expiry,
        channels=channels,
    )


def price_drop_fanout(
    conn: Connection,
    raw_payload: Mapping[str, Any] | Payload,
    *,
    rules: Rules,
    now: datetime,
    expiry: Expiry,
    source: str,
    actor: str,
    limits: SizeLimits | None = None,
) -> list[outbox.Enqueued]:
    """One ``price.dropped`` event per SKU -> one notification per customer wishing for it.

    Deduplicated per customer x SKU x new price, so a repeated event notifies nobody twice.
    A message too long to send (``limits``) is refused before anyone is looked up.
    """
    payload = parse_payload(Kind.PRICE_DROP, raw_payload)
    if limits is not None:
        check_sizes(Kind.PRICE_DROP, payload.as_dict(), limits)
    wishing = customers_with_sku(conn, payload.as_dict()["sku"])
    return notify_all(
        conn,
        kind=Kind.PRICE_DROP,
        items=[(Recipient(cid), payload) for cid in wishing],
        source=source,
        actor=actor,
        now=now,
        rules=rules,
        expiry=expiry,
    )
