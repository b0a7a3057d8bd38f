"""Customers: who they are, what they consented to, and who must not be contacted.

The one owner of customer upserts, consent changes and suppressions, whatever brought them
(a webhook, a file import, the CLI, an inbound STOP, an in-call opt-out, the demo): it checks
an update against what is on file, and writes each change with its audit event in the
caller's transaction. ``outbound.store.customers`` only stores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.customers import CustomerRecord
from outbound.domain.errors import ConfigError, FieldProblem, ValidationError
from outbound.domain.masking import mask_phone
from outbound.domain.pseudonyms import phone_hash
from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.policy.model import ConsentRecord
from outbound.schemas.customers import merged_problems
from outbound.store import audit
from outbound.store import customers as rows
from outbound.store.erasure import any_hashed, suppressed_hashes

#: resolve an operator's reference (external id, or ``#<id>``) to the customer's id
customer_id_for = rows.customer_id_for


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
    existing = rows.id_by_external_id(conn, record.external_id)
    if existing is None:
        cid = rows.insert_customer(conn, record, now)
    else:
        cid = existing
        if problems := _merged_problems(conn, cid, record):
            raise ValidationError(problems)
        rows.update_profile(conn, cid, record)
    rows.replace_children(conn, cid, record, now)
    for opt in record.opt_ins:
        rows.insert_consent(
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
        )
    audit.append(conn, [_upsert_event(record, actor, source, created=existing is None)], now)
    if record.phone_e164:
        _resuppress(conn, cid, record.phone_e164, erasure_key, actor=actor, now=now)
    return cid, existing is None


def _merged_problems(conn: Connection, cid: int, record: CustomerRecord) -> list[FieldProblem]:
    """An update's phone, country and state checked together with the ones it leaves as they are."""
    if record.given is None or not record.given & {"phone_e164", "country", "state"}:
        return []
    stored = rows.contact_of(conn, cid)
    return merged_problems(
        record.phone_e164 if record.names("phone_e164") else stored.phone_e164,
        record.country if record.names("country") else stored.country,
        record.state if record.names("state") else stored.state,
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
    hit = suppressed_hashes(conn, [phone_hash(key, phone)])
    if hit and not rows.is_suppressed_number(conn, cid, phone):
        add_suppression(conn, cid, "number of an erased customer", actor=actor, now=now)


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
) -> None:
    """Append to the consent ledger (never update) and audit it in the same transaction."""
    rows.insert_consent(
        conn,
        customer_id,
        channel,
        purpose,
        action,
        source=source,
        evidence=evidence,
        actor=actor,
        now=now,
        written=written,
    )
    data = {
        "channel": channel.value if channel else "all",
        "purpose": purpose.value if purpose else "all",
        "written": written,
        "source": source,
        "evidence": evidence,
    }
    event = audit.Event(actor, f"consent.{action.value}", f"customer#{customer_id}", data)
    audit.append(conn, [event], now)


def consent_records(conn: Connection, customer_id: int) -> list[ConsentRecord]:
    """The customer's consent ledger as the policy reads it."""
    return [ConsentRecord(*row) for row in rows.consent_ledger(conn, customer_id)]


def add_suppression(
    conn: Connection, customer_id: int, reason: str, *, actor: str, now: datetime
) -> None:
    """Put the customer and their number on the internal do-not-contact list, audited."""
    phone = rows.insert_suppression(conn, customer_id, reason, now)
    data = {"reason": reason, "phone": mask_phone(phone)}
    audit.append(
        conn, [audit.Event(actor, "suppression.added", f"customer#{customer_id}", data)], now
    )


def listing(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` customers by id, as ``customer list`` shows them (phones masked)."""
    return [
        {
            "id": r.id,
            "external_id": r.external_id,
            "name": r.name,
            "country": r.country,
            "timezone": r.timezone,
            "phone": mask_phone(r.phone_e164),
            "locale": r.locale,
        }
        for r in rows.first_customers(conn, limit)
    ]
