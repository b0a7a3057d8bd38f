"""Customers, preferences, push subscriptions, wishlists, the consent ledger and suppressions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from outbound.domain.customers import CustomerRecord
from outbound.domain.errors import NotFoundError
from outbound.domain.values import Channel, ConsentAction, Purpose, row_id
from outbound.store.tables import (
    consents,
    customers,
    preferences,
    push_subscriptions,
    suppressions,
    wishlist_items,
)


def _profile(record: CustomerRecord) -> dict[str, Any]:
    """The customer-row columns the record names (all of them for a full record)."""
    values = {
        "name": record.name,
        "locale": record.locale,
        "timezone": record.timezone,
        "phone_e164": record.phone_e164,
        "country": record.country,
        "state": record.state,
        "membership_tier": record.membership_tier,
        "membership_expires_on": record.membership_expires_on,
        "attributes": dict(record.attributes),
    }
    return {k: v for k, v in values.items() if record.names(k)}


def _full(record: CustomerRecord) -> dict[str, Any]:
    return _profile(replace(record, given=None))


def id_by_external_id(conn: Connection, external_id: str) -> int | None:
    """The customer's id, None when no customer has that external id."""
    found = conn.execute(
        select(customers.c.id).where(customers.c.external_id == external_id)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def insert_customer(conn: Connection, record: CustomerRecord, now: datetime) -> int:
    """A new customer row with every field (defaults where the record named none)."""
    return int(
        conn.execute(
            insert(customers)
            .values(external_id=record.external_id, created_at=now, **_full(record))
            .returning(customers.c.id)
        ).scalar_one()
    )


def update_profile(conn: Connection, customer_id: int, record: CustomerRecord) -> None:
    """Write the customer-row fields the record names; the others stay as they are."""
    if profile := _profile(record):
        conn.execute(update(customers).where(customers.c.id == customer_id).values(**profile))


@dataclass(frozen=True)
class Contact:
    """The stored fields an update's phone, country and state are checked together with."""

    phone_e164: str | None
    country: str | None
    state: str | None


def contact_of(conn: Connection, customer_id: int) -> Contact:
    row = conn.execute(
        select(customers.c.phone_e164, customers.c.country, customers.c.state).where(
            customers.c.id == customer_id
        )
    ).one()
    return Contact(row.phone_e164, row.country, row.state)


def is_suppressed_number(conn: Connection, customer_id: int, phone: str) -> bool:
    """The customer is on the do-not-contact list with this number already."""
    return (
        conn.execute(
            select(suppressions.c.id).where(
                suppressions.c.customer_id == customer_id, suppressions.c.phone_e164 == phone
            )
        ).first()
        is not None
    )


def replace_children(conn: Connection, cid: int, record: CustomerRecord, now: datetime) -> None:
    """Preferences, wishlist and push subscriptions as the record names them."""
    _replace_children(conn, cid, record, now)


def _replace_children(conn: Connection, cid: int, record: CustomerRecord, now: datetime) -> None:
    if record.names("preference"):
        conn.execute(delete(preferences).where(preferences.c.customer_id == cid))
    if record.names("preference") and record.preference:
        conn.execute(
            insert(preferences),
            [
                {"customer_id": cid, "rank": i, "channel": c.value}
                for i, c in enumerate(record.preference)
            ],
        )
    if record.names("wishlist"):
        conn.execute(delete(wishlist_items).where(wishlist_items.c.customer_id == cid))
    if record.names("wishlist") and record.wishlist:
        conn.execute(
            insert(wishlist_items), [{"customer_id": cid, "sku": s} for s in record.wishlist]
        )
    if record.given is not None and "push_endpoints" in record.given and not record.push_endpoints:
        conn.execute(delete(push_subscriptions).where(push_subscriptions.c.customer_id == cid))
    _add_subscriptions(conn, cid, record, now)


def _add_subscriptions(conn: Connection, cid: int, record: CustomerRecord, now: datetime) -> None:
    """New endpoints are added, known ones get fresh keys; none is removed here."""
    web_keys = {e: {"p256dh": p, "auth": a} for e, p, a in record.push_keys}
    for kind, endpoint in record.push_endpoints:
        keys = web_keys.get(endpoint, {}) if kind == "webpush" else {}
        known = conn.execute(
            select(push_subscriptions.c.id).where(
                push_subscriptions.c.customer_id == cid, push_subscriptions.c.endpoint == endpoint
            )
        ).first()
        if known is None:
            conn.execute(
                insert(push_subscriptions).values(
                    customer_id=cid, kind=kind, endpoint=endpoint, keys=keys, created_at=now
                )
            )
        elif keys:  # a browser re-subscribed with new keys on the same endpoint
            conn.execute(
                update(push_subscriptions)
                .where(push_subscriptions.c.id == known.id)
                .values(keys=keys)
            )


def customer_id_for(conn: Connection, ref: str) -> int:
    """Resolve an operator's reference: external id first, then ``#<internal id>``/digits."""
    row = conn.execute(select(customers.c.id).where(customers.c.external_id == ref)).first()
    internal = row_id(ref.removeprefix("#"))
    if row is None and internal is not None:
        row = conn.execute(select(customers.c.id).where(customers.c.id == internal)).first()
    if row is None:
        raise NotFoundError(f"customer {ref!r} not found; list them with: outbound customer list")
    return int(row.id)


def insert_consent(
    conn: Connection,
    customer_id: int,
    channel: Channel | None,
    purpose: Purpose | None,
    action: ConsentAction,
    *,
    source: str,
    evidence: str,
    actor: str,
    now: datetime,
    written: bool = False,
) -> None:
    """Append one row to the consent ledger (never update)."""
    conn.execute(
        insert(consents).values(
            customer_id=customer_id,
            channel=channel.value if channel else None,
            purpose=purpose.value if purpose else None,
            action=action.value,
            written=written,
            source=source,
            evidence=evidence,
            actor=actor,
            at=now,
        )
    )


def consent_ledger(
    conn: Connection, customer_id: int
) -> list[tuple[Channel | None, Purpose | None, ConsentAction, datetime]]:
    """The customer's consent rows, oldest first: (channel, purpose, action, at)."""
    rows = conn.execute(
        select(consents).where(consents.c.customer_id == customer_id).order_by(consents.c.id)
    ).all()
    return [
        (
            Channel(r.channel) if r.channel else None,
            Purpose(r.purpose) if r.purpose else None,
            ConsentAction(r.action),
            r.at,
        )
        for r in rows
    ]


def insert_suppression(
    conn: Connection, customer_id: int, reason: str, now: datetime
) -> str | None:
    """Put the customer and their number on the do-not-contact list; returns that number."""
    phone = conn.execute(
        select(customers.c.phone_e164).where(customers.c.id == customer_id)
    ).scalar_one_or_none()
    conn.execute(
        insert(suppressions).values(
            customer_id=customer_id, phone_e164=phone, reason=reason, at=now
        )
    )
    return phone


@dataclass(frozen=True)
class Reachable:
    """A customer a phone number belongs to, as an inbound message needs it."""

    id: int
    country: str | None
    locale: str | None


def by_phone(conn: Connection, phone: str) -> list[Reachable]:
    """The customers with this number, in id order."""
    rows = conn.execute(
        select(customers.c.id, customers.c.country, customers.c.locale)
        .where(customers.c.phone_e164 == phone)
        .order_by(customers.c.id)
    )
    return [Reachable(int(r.id), r.country, r.locale) for r in rows]


def first_customers(conn: Connection, limit: int) -> Sequence[Any]:
    """The first ``limit`` customer rows by id."""
    return conn.execute(select(customers).order_by(customers.c.id).limit(limit)).all()


def customers_with_sku(conn: Connection, sku: str) -> Iterable[int]:
    return [
        int(cid)
        for cid in conn.execute(
            select(wishlist_items.c.customer_id).where(wishlist_items.c.sku == sku)
        ).scalars()
    ]


@dataclass(frozen=True)
class Address:
    """Where and how a message reaches a customer."""

    locale: str
    country: str | None
    phone_e164: str | None
    push_endpoint: str | None  # the oldest subscription: a stable choice


def addresses(conn: Connection, customer_ids: Sequence[int]) -> dict[int, Address]:
    ids = sorted(set(customer_ids))
    endpoints: dict[int, str] = {}
    for r in conn.execute(
        select(push_subscriptions.c.customer_id, push_subscriptions.c.endpoint)
        .where(push_subscriptions.c.customer_id.in_(ids))
        .order_by(push_subscriptions.c.id)
    ):
        endpoints.setdefault(r.customer_id, r.endpoint)
    rows = conn.execute(
        select(
            customers.c.id, customers.c.locale, customers.c.country, customers.c.phone_e164
        ).where(customers.c.id.in_(ids))
    )
    return {r.id: Address(r.locale, r.country, r.phone_e164, endpoints.get(r.id)) for r in rows}
