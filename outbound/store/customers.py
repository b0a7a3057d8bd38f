"""Customers, preferences, push subscriptions, wishlists, the consent ledger and suppressions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from outbound.domain.customers import CustomerRecord
from outbound.domain.errors import ConfigError, FieldProblem, NotFoundError, ValidationError
from outbound.domain.masking import mask_evidence, mask_phone
from outbound.domain.pseudonyms import phone_hash
from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.schemas.customers import merged_problems
from outbound.store import audit
from outbound.store.erasure import any_hashed, check_key, suppressed_hashes
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


def upsert_customer(
    conn: Connection,
    record: CustomerRecord,
    *,
    now: datetime,
    actor: str,
    source: str,
    erasure_key: bytes | None = None,
) -> tuple[int, bool]:
    """Insert or update one customer; returns (id, created).

    A new customer gets every field (defaults where the input named none); an existing one
    has only the fields the record names changed (``CustomerRecord.given``), the rest kept.

    A number that belonged to a forgotten customer is recognised by its keyed hash
    (``erasure_key``) and put on the suppression list again.
    """
    existing = conn.execute(
        select(customers.c.id).where(customers.c.external_id == record.external_id)
    ).scalar_one_or_none()
    if existing is None:
        cid = int(
            conn.execute(
                insert(customers)
                .values(external_id=record.external_id, created_at=now, **_full(record))
                .returning(customers.c.id)
            ).scalar_one()
        )
    else:
        cid = int(existing)
        if problems := _merged_problems(conn, cid, record):
            raise ValidationError(problems)
        if profile := _profile(record):
            conn.execute(update(customers).where(customers.c.id == cid).values(**profile))
    _replace_children(conn, cid, record, now)
    for opt in record.opt_ins:
        add_consent(
            conn,
            cid,
            opt.channel,
            opt.purpose,
            ConsentAction.GRANT,
            source=source,
            evidence=f"opt-in carried by {source}",
            actor=actor,
            written=opt.written,
            now=now,
            log=False,
        )
    audit.append(conn, [_upsert_event(record, actor, source, created=existing is None)], now)
    if record.phone_e164:
        _resuppress(conn, cid, record.phone_e164, erasure_key, actor=actor, now=now)
    return cid, existing is None


def _merged_problems(conn: Connection, cid: int, record: CustomerRecord) -> list[FieldProblem]:
    """An update's phone, country and state checked together with the ones it leaves as they are."""
    if record.given is None or not record.given & {"phone_e164", "country", "state"}:
        return []
    row = conn.execute(
        select(customers.c.phone_e164, customers.c.country, customers.c.state).where(
            customers.c.id == cid
        )
    ).one()
    return merged_problems(
        record.phone_e164 if record.names("phone_e164") else row.phone_e164,
        record.country if record.names("country") else row.country,
        record.state if record.names("state") else row.state,
    )


def _upsert_event(record: CustomerRecord, actor: str, source: str, *, created: bool) -> audit.Event:
    """What changed, phone masked; an update lists only the fields it wrote."""
    data: dict[str, Any] = {
        "phone": mask_phone(record.phone_e164),
        "country": record.country,
        "timezone": record.timezone,
        "preference": [c.value for c in record.preference],
    }
    data = {k: v for k, v in data.items() if created or record.names(_COLUMN.get(k, k))}
    if not created and record.given is not None:
        data["fields"] = sorted(record.given)
    data["opt_ins"] = [f"{o.channel.value}:{o.purpose.value}" for o in record.opt_ins]
    data["source"] = source
    return audit.Event(
        actor,
        "customer.created" if created else "customer.updated",
        f"customer:{record.external_id}",
        data,
    )


_COLUMN = {"phone": "phone_e164"}


def _resuppress(
    conn: Connection, cid: int, phone: str, key: bytes | None, *, actor: str, now: datetime
) -> None:
    if key is None:
        if any_hashed(conn):
            raise ConfigError(
                "this database holds erased numbers that stay suppressed, but [privacy] "
                "erasure_key is not set, so an imported number cannot be checked against them; "
                "set OUTBOUND_PRIVACY_ERASURE_KEY to the key the erasures used"
            )
        return
    check_key(conn, key, now)
    hit = suppressed_hashes(conn, [phone_hash(key, phone)])
    if not hit:
        return
    already = conn.execute(
        select(suppressions.c.id).where(
            suppressions.c.customer_id == cid, suppressions.c.phone_e164 == phone
        )
    ).first()
    if already is None:
        add_suppression(conn, cid, "number of an erased customer", actor=actor, now=now)


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
    if row is None and ref.lstrip("#").isdigit():
        row = conn.execute(
            select(customers.c.id).where(customers.c.id == int(ref.lstrip("#")))
        ).first()
    if row is None:
        raise NotFoundError(f"customer {ref!r} not found; list them with: outbound customer list")
    return int(row.id)


def add_consent(
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
    log: bool = True,
) -> None:
    """Append to the consent ledger (never update) and audit it in the same transaction.

    Numbers in ``evidence`` ("called from +14155550123") keep their last four digits only."""
    evidence = mask_evidence(evidence)
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
    if log:
        data = {
            "channel": channel.value if channel else "all",
            "purpose": purpose.value if purpose else "all",
            "written": written,
            "source": source,
            "evidence": evidence,
        }
        audit.append(
            conn,
            [audit.Event(actor, f"consent.{action.value}", f"customer#{customer_id}", data)],
            now,
        )


def add_suppression(
    conn: Connection, customer_id: int, reason: str, *, actor: str, now: datetime
) -> None:
    """Put the customer and their number on the internal do-not-contact list."""
    phone = conn.execute(
        select(customers.c.phone_e164).where(customers.c.id == customer_id)
    ).scalar_one_or_none()
    conn.execute(
        insert(suppressions).values(
            customer_id=customer_id, phone_e164=phone, reason=reason, at=now
        )
    )
    audit.append(
        conn,
        [
            audit.Event(
                actor,
                "suppression.added",
                f"customer#{customer_id}",
                {"reason": reason, "phone": mask_phone(phone)},
            )
        ],
        now,
    )


def customers_with_sku(conn: Connection, sku: str) -> Iterable[int]:
    return [
        int(cid)
        for cid in conn.execute(
            select(wishlist_items.c.customer_id).where(wishlist_items.c.sku == sku)
        ).scalars()
    ]


@dataclass(frozen=True)
class Recipient:
    """Where and how a message reaches a customer."""

    locale: str
    country: str | None
    phone_e164: str | None
    push_endpoint: str | None  # the oldest subscription: a stable choice


def recipients(conn: Connection, customer_ids: Sequence[int]) -> dict[int, Recipient]:
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
    return {r.id: Recipient(r.locale, r.country, r.phone_e164, endpoints.get(r.id)) for r in rows}
