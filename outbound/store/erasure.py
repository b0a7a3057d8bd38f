"""Erasure steps: a forgotten customer's personal data out of every table, in one transaction.

What stays is a stub customer row (internal id, a keyed pseudonym as external id, country), the
consent ledger (proof of consent is a legal obligation: who, when, how, which wording), the
notifications' decisions and the deliveries' outcomes without their identifying fields, and the
suppression entries with the number replaced by its keyed hash. What the customer wrote
(``inbound_texts``) is deleted. The audit chain is not touched: it never holds names, full
numbers, push tokens, transcripts or inbound text (phones are masked to country code and last
four digits before hashing, transcripts are left out, inbound text is a keyed hash and a
length), so nothing in it needs erasing and every link still verifies.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from outbound.domain.errors import ConfigError
from outbound.domain.masking import erase_evidence
from outbound.domain.pseudonyms import ERASED_PREFIX, erased_external_id, keyed_hash, phone_hash
from outbound.domain.values import DeliveryStatus, NotificationStatus
from outbound.store.privacy import (
    ERASURE_FINGERPRINT,
    erase_inbound_texts,
    state_value,
    state_value_or_set,
)
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


def key_fingerprint(key: bytes) -> str:
    """What identifies an erasure key without revealing it: HMAC of a constant under it."""
    return hmac.new(key, b"outbound.erasure-key.fingerprint/1", hashlib.sha256).hexdigest()


def check_key(conn: Connection, key: bytes, now: datetime | None) -> None:
    """Refuse a key other than the one this database's erasures use.

    The first use (with ``now``; a lookup only compares) stores the key's fingerprint; a
    different key later would hash a returning number differently, so an erased number would
    silently stop being suppressed."""
    mine = key_fingerprint(key)
    if now is None:
        stored = state_value(conn, ERASURE_FINGERPRINT) or mine
    else:
        stored = state_value_or_set(conn, ERASURE_FINGERPRINT, mine, now)
    if not hmac.compare_digest(stored, mine):
        raise ConfigError(
            "[privacy] erasure_key is not the key this database's erasures were made with "
            f"(its fingerprint starts {mine[:8]}, the database's {stored[:8]}): with it an "
            "erased number would no longer be recognised and stay suppressed; set "
            "OUTBOUND_PRIVACY_ERASURE_KEY back to the key the erasures used"
        )


def find_erased(conn: Connection, key: bytes, external_id: str) -> int | None:
    """The stub of a forgotten customer, found by the shop's own id (or the pseudonym)."""
    check_key(conn, key, None)
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


def _consent_evidence(conn: Connection, cid: int) -> int:
    """The consent ledger stays (proof of consent); what the customer said or wrote, quoted in
    its evidence ("said 'stop calling me'", "sms reply 'STOP, Jane at 12 Elm St'"), goes, and
    numbers in it ("called from +14155550123") keep their last four digits only."""
    changed = 0
    rows = conn.execute(
        select(consents.c.id, consents.c.evidence).where(consents.c.customer_id == cid)
    ).all()
    for r in rows:
        cleaned = erase_evidence(r.evidence or "")
        if cleaned != r.evidence:
            conn.execute(update(consents).where(consents.c.id == r.id).values(evidence=cleaned))
            changed += 1
    return changed


def _children(conn: Connection, cid: int, phone: str | None) -> dict[str, int]:
    counts = {}
    for name, table in (
        ("wishlist_items", wishlist_items),
        ("push_subscriptions", push_subscriptions),
        ("preferences", preferences),
        ("cap_counters", cap_counters),
    ):
        counts[name] = _count(conn.execute(delete(table).where(table.c.customer_id == cid)))
    counts["consent_evidence"] = _consent_evidence(conn, cid)
    counts["inbound_texts"] = erase_inbound_texts(conn, cid, phone)
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
    check_key(conn, key, now)
    row = conn.execute(
        select(customers.c.external_id, customers.c.phone_e164).where(customers.c.id == cid)
    ).one()
    pseudonym = erased_external_id(key, row.external_id)
    counts = _children(conn, cid, row.phone_e164)
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
