"""Reads for the views: a customer's profile and history, their notifications, deliveries and
receipts, and the ids an export gathers. Rows come out as dicts (``store.rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, or_, select

from outbound.store.rows import as_dict, as_dicts
from outbound.store.snapshots import chunks
from outbound.store.tables import (
    customers,
    deliveries,
    notifications,
    preferences,
    provider_refs,
    push_receipts,
    push_subscriptions,
    wishlist_items,
)

# --- customers -------------------------------------------------------------------------------


def customer(conn: Connection, customer_id: int) -> dict[str, Any] | None:
    """One customer's row, every column; None when there is no such id."""
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).first()
    return as_dict(row) if row is not None else None


def customers_matching(
    conn: Connection, external_id: str, phone_digits: str | None, limit: int
) -> list[dict[str, Any]]:
    """Customers whose external id is ``external_id`` or starts with it, or whose phone ends
    with ``phone_digits``; by external id."""
    conds = [
        customers.c.external_id == external_id,
        customers.c.external_id.startswith(external_id, autoescape=True),
    ]
    if phone_digits:
        conds.append(customers.c.phone_e164.endswith(phone_digits))
    query = select(customers).where(or_(*conds)).order_by(customers.c.external_id).limit(limit)
    return as_dicts(conn.execute(query))


def wishlist_skus(conn: Connection, customer_id: int) -> list[str]:
    query = select(wishlist_items.c.sku).where(wishlist_items.c.customer_id == customer_id)
    return list(conn.execute(query).scalars())


def preferred_channels(conn: Connection, customer_id: int) -> list[str]:
    """The customer's channel preference, first choice first."""
    query = (
        select(preferences.c.channel)
        .where(preferences.c.customer_id == customer_id)
        .order_by(preferences.c.rank)
    )
    return list(conn.execute(query).scalars())


def push_endpoints(conn: Connection, customer_id: int) -> list[str]:
    """The customer's push subscription endpoints, oldest first (unmasked)."""
    query = (
        select(push_subscriptions.c.endpoint)
        .where(push_subscriptions.c.customer_id == customer_id)
        .order_by(push_subscriptions.c.id)
    )
    return list(conn.execute(query).scalars())


# --- notifications and deliveries ------------------------------------------------------------


def notification(conn: Connection, notification_id: int) -> dict[str, Any] | None:
    """One notification's row, every column; None when there is no such id."""
    query = select(notifications).where(notifications.c.id == notification_id)
    row = conn.execute(query).first()
    return as_dict(row) if row is not None else None


def recent_notifications(conn: Connection, customer_id: int, limit: int) -> list[dict[str, Any]]:
    """The customer's last ``limit`` notifications, newest first."""
    query = (
        select(notifications)
        .where(notifications.c.customer_id == customer_id)
        .order_by(notifications.c.id.desc())
        .limit(limit)
    )
    return as_dicts(conn.execute(query))


def notification_ids(
    conn: Connection, *, customer_id: int | None = None, campaign_id: int | None = None
) -> list[int]:
    """Ids of the notifications of a customer, of a campaign, or of both."""
    query = select(notifications.c.id)
    if customer_id is not None:
        query = query.where(notifications.c.customer_id == customer_id)
    if campaign_id is not None:
        query = query.where(notifications.c.campaign_id == campaign_id)
    return [int(i) for i in conn.execute(query).scalars()]


def notifications_by_ids(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The notifications with these ids, by id, every column."""
    out: list[dict[str, Any]] = []
    for part in chunks(sorted(set(ids))):
        query = select(notifications).where(notifications.c.id.in_(part)).order_by("id")
        out += as_dicts(conn.execute(query))
    return out


def delivery_history(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """Each of the customer's notifications with each of its deliveries (one row per delivery,
    one with delivery columns None for a notification without any)."""
    query = (
        select(
            notifications.c.id.label("notification"),
            notifications.c.kind,
            notifications.c.status.label("notification_status"),
            deliveries.c.id.label("delivery"),
            deliveries.c.channel,
            deliveries.c.rung,
            deliveries.c.status,
            deliveries.c.outcome,
            deliveries.c.due_at,
            deliveries.c.updated_at,
        )
        .select_from(notifications.outerjoin(deliveries))
        .where(notifications.c.customer_id == customer_id)
        .order_by(notifications.c.id, deliveries.c.id)
    )
    return as_dicts(conn.execute(query))


def deliveries_of(conn: Connection, notification_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Every delivery of these notifications, by id, every column."""
    out: list[dict[str, Any]] = []
    for part in chunks(sorted(set(notification_ids))):
        query = select(deliveries).where(deliveries.c.notification_id.in_(part))
        out += as_dicts(conn.execute(query))
    return sorted(out, key=lambda d: int(d["id"]))


def delivery_ids_of(conn: Connection, notification_ids: Sequence[int]) -> list[int]:
    """Ids of every delivery of these notifications."""
    out: list[int] = []
    for part in chunks(sorted(set(notification_ids))):
        query = select(deliveries.c.id).where(deliveries.c.notification_id.in_(part))
        out += [int(i) for i in conn.execute(query).scalars()]
    return out


def deliveries_by_ids(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The deliveries with these ids, by id, every column."""
    out: list[dict[str, Any]] = []
    for part in chunks(sorted(set(ids))):
        query = select(deliveries).where(deliveries.c.id.in_(part)).order_by("id")
        out += as_dicts(conn.execute(query))
    return out


def provider_receipts(conn: Connection, delivery_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Providers' references and receipts of these deliveries, in the order they came."""
    out: list[dict[str, Any]] = []
    for part in chunks(sorted(set(delivery_ids))):
        query = select(provider_refs).where(provider_refs.c.delivery_id.in_(part))
        out += as_dicts(conn.execute(query.order_by(provider_refs.c.created_at)))
    return sorted(out, key=lambda r: r["created_at"])


def push_receipt_rows(conn: Connection, delivery_ids: Sequence[int]) -> list[dict[str, Any]]:
    """What the shop's app reported for these push deliveries, by delivery."""
    out: list[dict[str, Any]] = []
    for part in chunks(sorted(set(delivery_ids))):
        query = select(push_receipts).where(push_receipts.c.delivery_id.in_(part))
        out += as_dicts(conn.execute(query.order_by(push_receipts.c.delivery_id)))
    return out
