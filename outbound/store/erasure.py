"""Erasure steps: a forgotten customer's personal data out of every table, in one transaction.

What stays is a stub customer row (internal id, a keyed pseudonym as external id, country), the
consent ledger (proof of consent is a legal obligation: who, when, how, which wording), the
notifications' decisions and the deliveries' outcomes without their identifying fields, and the
suppression entries with the number replaced by its keyed hash. The audit chain is not touched:
it never holds names, full numbers, push tokens or transcripts (phones are masked to country
code and last four digits before hashing, transcripts are left out), so nothing in it needs
erasing and every link still verifies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from outbound.domain.pseudonyms import ERASED_PREFIX, erased_external_id, keyed_hash, phone_hash
from outbound.domain.values import DeliveryStatus, NotificationStatus
from outbound.store.tables import (
    cap_counters,
    consents,
    customers,
    deliveries,
    log_sends,
    notifications,
    preferences,
    push_subscriptions,
    suppressions,
    wishlist_items,
)

#: delivery detail keys that carry what a person said or was sent (at any depth)
IDENTIFYING_DETAIL_KEYS = frozenset({"transcript", "text", "to", "phone", "endpoint", "recording"})
_OPEN = (DeliveryStatus.QUEUED.value, DeliveryStatus.LEASED.value)


@dataclass(frozen=True)
class Erased:
    """What one erasure removed: counts only, so the audit record names no data."""

    customer_id: int
    pseudonym: str
    counts: dict[str, int]


def find_erased(conn: Connection, key: bytes, external_id: str) -> int | None:
    """The stub of a forgotten customer, found by the shop's own id (or the pseudonym)."""
    pseudonym = (
        external_id
        if external_id.startswith(ERASED_PREFIX)
        else erased_external_id(key, external_id)
    )
    row = conn.execute(select(customers.c.id).where(customers.c.external_id == pseudonym)).first()
    return None if row is None else int(row.id)


def scrub_detail(value: Any) -> Any:
    """A delivery detail without the identifying keys, nested dicts and lists included."""
    if isinstance(value, dict):
        return {k: scrub_detail(v) for k, v in value.items() if k not in IDENTIFYING_DETAIL_KEYS}
    if isinstance(value, list):
        return [scrub_detail(v) for v in value]
    return value


def _count(result: Any) -> int:
    return max(int(result.rowcount or 0), 0)


#: what a customer said, quoted in consent evidence by releases before transcripts were kept
#: out of it ("in-call opt-out on delivery#7 (dtmf '9', said 'stop calling me')")
_SAID = re.compile(r"said (['\"]).*?\1")


def _consent_evidence(conn: Connection, cid: int) -> int:
    """The consent ledger stays (proof of consent); quoted speech in its evidence goes."""
    changed = 0
    rows = conn.execute(
        select(consents.c.id, consents.c.evidence).where(consents.c.customer_id == cid)
    ).all()
    for r in rows:
        cleaned = _SAID.sub("said [erased]", r.evidence or "")
        if cleaned != r.evidence:
            conn.execute(update(consents).where(consents.c.id == r.id).values(evidence=cleaned))
            changed += 1
    return changed


def _children(conn: Connection, cid: int) -> dict[str, int]:
    counts = {}
    for name, table in (
        ("wishlist_items", wishlist_items),
        ("push_subscriptions", push_subscriptions),
        ("preferences", preferences),
        ("cap_counters", cap_counters),
    ):
        counts[name] = _count(conn.execute(delete(table).where(table.c.customer_id == cid)))
    counts["consent_evidence"] = _consent_evidence(conn, cid)
    counts["sent_texts"] = _count(
        conn.execute(update(log_sends).where(log_sends.c.customer_id == cid).values(text=""))
    )
    return counts


def _notifications(conn: Connection, cid: int, key: bytes, now: datetime) -> dict[str, int]:
    """Payloads emptied, open deliveries stopped, delivery details scrubbed."""
    note_ids = list(
        conn.execute(select(notifications.c.id).where(notifications.c.customer_id == cid)).scalars()
    )
    if not note_ids:
        return {"notifications": 0, "deliveries": 0, "stopped": 0}
    for nid, dedupe in conn.execute(
        select(notifications.c.id, notifications.c.dedupe_key).where(
            notifications.c.id.in_(note_ids)
        )
    ).all():  # the key holds order and tracking numbers; the hash keeps it unique
        conn.execute(
            update(notifications)
            .where(notifications.c.id == nid)
            .values(payload={"erased": True}, dedupe_key=ERASED_PREFIX + keyed_hash(key, dedupe))
        )
    conn.execute(
        update(notifications)
        .where(
            notifications.c.id.in_(note_ids),
            notifications.c.status == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.SUPPRESSED.value)
    )
    rows = conn.execute(
        select(deliveries.c.id, deliveries.c.status, deliveries.c.detail).where(
            deliveries.c.notification_id.in_(note_ids)
        )
    ).all()
    stopped = 0
    for r in rows:
        values: dict[str, Any] = {"detail": scrub_detail(dict(r.detail or {})), "updated_at": now}
        if r.status in _OPEN:
            values.update(status=DeliveryStatus.SUPPRESSED.value, lease_until=None)
            values["detail"] = {**values["detail"], "reason": "customer erased"}
            stopped += 1
        conn.execute(update(deliveries).where(deliveries.c.id == r.id).values(**values))
    return {"notifications": len(note_ids), "deliveries": len(rows), "stopped": stopped}


def _suppressions(
    conn: Connection, cid: int, phone: str | None, key: bytes, reason: str, now: datetime
) -> int:
    """Every entry of this customer or number keeps only the keyed hash; one more says
    "erased", so the number stays opted out if it is ever imported again."""
    digest = phone_hash(key, phone) if phone else None
    where = suppressions.c.customer_id == cid
    if phone:
        where = where | (suppressions.c.phone_e164 == phone)
    kept = _count(
        conn.execute(update(suppressions).where(where).values(phone_e164=None, phone_hash=digest))
    )
    conn.execute(
        insert(suppressions).values(
            customer_id=cid, phone_e164=None, phone_hash=digest, reason=reason, at=now
        )
    )
    return kept + 1


def erase_customer(conn: Connection, cid: int, *, key: bytes, now: datetime) -> Erased:
    """Erase in the caller's transaction; the caller audits it (``customer.erased``)."""
    row = conn.execute(
        select(customers.c.external_id, customers.c.phone_e164).where(customers.c.id == cid)
    ).one()
    pseudonym = erased_external_id(key, row.external_id)
    counts = _children(conn, cid)
    counts.update(_notifications(conn, cid, key, now))
    counts["suppressions"] = _suppressions(
        conn, cid, row.phone_e164, key, "erasure: do not contact", now
    )
    conn.execute(
        update(customers)
        .where(customers.c.id == cid)
        .values(
            external_id=pseudonym,
            name="",
            phone_e164=None,
            timezone=None,
            state=None,
            membership_tier=None,
            membership_expires_on=None,
            attributes={},
            erased_at=now,
        )
    )
    return Erased(cid, pseudonym, counts)


def suppressed_hashes(conn: Connection, digests: list[str]) -> dict[str, str]:
    """Hashed suppression entries among ``digests``: digest -> reason."""
    if not digests:
        return {}
    rows = conn.execute(
        select(suppressions.c.phone_hash, suppressions.c.reason).where(
            suppressions.c.phone_hash.in_(digests)
        )
    )
    return {str(r.phone_hash): str(r.reason) for r in rows}


def any_hashed(conn: Connection) -> bool:
    return (
        conn.execute(
            select(suppressions.c.id).where(suppressions.c.phone_hash.is_not(None))
        ).first()
        is not None
    )
