"""The campaigns aggregate: definitions, runs (one per firing), the segment a firing selects,
and the campaign's notifications and deliveries as its report reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from outbound.store.rows import as_dicts
from outbound.store.snapshots import chunks
from outbound.store.tables import (
    campaign_runs,
    campaigns,
    customers,
    deliveries,
    notifications,
    push_receipts,
    wishlist_items,
)

# --- definitions -----------------------------------------------------------------------------


def campaign_by_id(conn: Connection, campaign_id: int) -> Any:
    """The campaign with this id, or None."""
    return conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()


def campaign_by_name(conn: Connection, name: str) -> Any:
    """The campaign with this name, or None."""
    return conn.execute(select(campaigns).where(campaigns.c.name == name)).first()


def insert_campaign(conn: Connection, values: Mapping[str, Any]) -> int | None:
    """The new campaign's id; None when its name is taken (nothing written)."""
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    insert(campaigns).values(**values).returning(campaigns.c.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None


def set_campaign_status(conn: Connection, campaign_id: int, status: str) -> None:
    conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(status=status))


def active_campaigns(conn: Connection) -> list[Any]:
    """Every campaign with status ``active`` (rows: id, name, schedule, timezone, ...)."""
    return list(conn.execute(select(campaigns).where(campaigns.c.status == "active")).all())


def campaign_list(conn: Connection) -> list[dict[str, Any]]:
    """Every campaign by id: id, name, kind, schedule, timezone, status and its last firing."""
    last: dict[int, Any] = {
        int(cid): at
        for cid, at in conn.execute(
            select(campaign_runs.c.campaign_id, func.max(campaign_runs.c.fire_time)).group_by(
                campaign_runs.c.campaign_id
            )
        )
    }
    return [
        {
            "id": r.id,
            "name": r.name,
            "kind": r.kind,
            "schedule": r.schedule,
            "timezone": r.timezone,
            "status": r.status,
            "last_fire": last.get(int(r.id)),
        }
        for r in conn.execute(select(campaigns).order_by(campaigns.c.id))
    ]


# --- runs ------------------------------------------------------------------------------------


def start_run(conn: Connection, campaign_id: int, fire_time: datetime, now: datetime) -> int | None:
    """The new run's id; None when this (campaign, fire_time) already has a run."""
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    insert(campaign_runs)
                    .values(
                        campaign_id=campaign_id,
                        fire_time=fire_time.astimezone(UTC),
                        started_at=now,
                    )
                    .returning(campaign_runs.c.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None


def finish_run(
    conn: Connection, run_id: int, *, now: datetime, selected: int, created: int, error: str | None
) -> None:
    conn.execute(
        update(campaign_runs)
        .where(campaign_runs.c.id == run_id)
        .values(finished_at=now, selected=selected, created=created, error=error)
    )


def recent_runs(conn: Connection, campaign_id: int, limit: int) -> list[dict[str, Any]]:
    """The campaign's last ``limit`` runs, newest firing first, every column."""
    query = (
        select(campaign_runs)
        .where(campaign_runs.c.campaign_id == campaign_id)
        .order_by(campaign_runs.c.fire_time.desc())
        .limit(limit)
    )
    return as_dicts(conn.execute(query))


def selected_total(conn: Connection, campaign_id: int) -> int:
    """Customers selected over all of the campaign's runs."""
    query = select(func.coalesce(func.sum(campaign_runs.c.selected), 0)).where(
        campaign_runs.c.campaign_id == campaign_id
    )
    return int(conn.execute(query).scalar_one())


# --- the segment -----------------------------------------------------------------------------


def segment_members(
    conn: Connection,
    segment: Mapping[str, Any],
    *,
    expires_between: tuple[date, date] | None,
    after: int,
    limit: int,
) -> list[Any]:
    """The next ``limit`` customers of a segment with an id above ``after``, by id (rows: id,
    external_id, locale, country, timezone, membership_tier, membership_expires_on).

    ``expires_between``: only memberships expiring in that closed range (renewals);
    ``segment``: ``tiers``, ``countries`` and ``wishlist_sku``, each optional.
    """
    query = select(
        customers.c.id,
        customers.c.external_id,
        customers.c.locale,
        customers.c.country,
        customers.c.timezone,
        customers.c.membership_tier,
        customers.c.membership_expires_on,
    ).where(customers.c.id > after)
    if expires_between is not None:
        first, last = expires_between
        query = query.where(
            customers.c.membership_expires_on >= first, customers.c.membership_expires_on <= last
        )
    if segment.get("tiers"):
        query = query.where(customers.c.membership_tier.in_(list(segment["tiers"])))
    if segment.get("countries"):
        query = query.where(customers.c.country.in_([c.upper() for c in segment["countries"]]))
    if segment.get("wishlist_sku"):
        query = query.where(
            customers.c.id.in_(
                select(wishlist_items.c.customer_id).where(
                    wishlist_items.c.sku == segment["wishlist_sku"]
                )
            )
        )
    return list(conn.execute(query.order_by(customers.c.id).limit(limit)).all())


# --- what a campaign created -----------------------------------------------------------------


def notification_counts(conn: Connection, campaign_id: int) -> dict[str, int]:
    """The campaign's notifications by status."""
    query = (
        select(notifications.c.status, func.count())
        .where(notifications.c.campaign_id == campaign_id)
        .group_by(notifications.c.status)
    )
    return {str(status): int(n) for status, n in conn.execute(query)}


def notification_counts_by_campaign(conn: Connection) -> dict[int, dict[str, int]]:
    """Every campaign's notifications by status (campaigns without any left out)."""
    counts: dict[int, dict[str, int]] = {}
    for cid, status, n in conn.execute(
        select(notifications.c.campaign_id, notifications.c.status, func.count())
        .where(notifications.c.campaign_id.is_not(None))
        .group_by(notifications.c.campaign_id, notifications.c.status)
    ):
        counts.setdefault(int(cid), {})[str(status)] = int(n)
    return counts


def campaign_notifications(conn: Connection, campaign_id: int) -> list[Any]:
    """The campaign's notifications (rows: id, customer_id, status, created_at, decisions and
    the customer's timezone)."""
    query = (
        select(
            notifications.c.id,
            notifications.c.customer_id,
            notifications.c.status,
            notifications.c.created_at,
            notifications.c.decisions,
            customers.c.timezone,
        )
        .select_from(notifications.join(customers))
        .where(notifications.c.campaign_id == campaign_id)
    )
    return list(conn.execute(query))


def campaign_deliveries(conn: Connection, notification_ids: Sequence[int]) -> list[Any]:
    """The deliveries of these notifications with when a push was opened (rows: id,
    notification_id, channel, status, outcome, due_at, updated_at, detail, opened_at)."""
    out: list[Any] = []
    for part in chunks(list(notification_ids)):
        out += conn.execute(
            select(
                deliveries.c.id,
                deliveries.c.notification_id,
                deliveries.c.channel,
                deliveries.c.status,
                deliveries.c.outcome,
                deliveries.c.due_at,
                deliveries.c.updated_at,
                deliveries.c.detail,
                push_receipts.c.opened_at,
            )
            .select_from(deliveries.outerjoin(push_receipts))
            .where(deliveries.c.notification_id.in_(part))
        ).all()
    return out
