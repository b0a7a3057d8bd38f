"""Right to erasure: ``forget`` one customer, keep a pseudonymous record that it happened.

The record is the ``customer.erased`` audit event: who (the operator), when, why (the reason
given), the stub's internal id and keyed pseudonym, and how many rows of each kind were erased
— no personal data. The chain's earlier rows are not rewritten (that would break every hash
after them); they hold no names, full numbers, tokens or transcripts by design (see
``outbound.store.erasure``), so verify passes before and after an erasure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import NotFoundError, ValidationError
from outbound.domain.masking import mask_text
from outbound.domain.pseudonyms import ERASED_PREFIX
from outbound.store import audit, reports
from outbound.store.customers import customer_id_for
from outbound.store.erasure import erase_customer, find_erased
from outbound.store.rows import pick

ERASED_ACTION = "customer.erased"
#: an audit row as stored, as the evidence export writes it (the MAC left out)
_STORED = ("seq", "at", "actor", "action", "subject", "data", "prev_hash", "hash")


@dataclass(frozen=True)
class Forgotten:
    customer_id: int
    pseudonym: str
    counts: dict[str, int]
    audit_seq: int
    already: bool  # the customer had been forgotten before: nothing changed


def resolve(conn: Connection, ref: str, key: bytes | None) -> tuple[int, bool]:
    """(internal id, erased?) for an operator's reference, forgotten customers included."""
    try:
        cid = customer_id_for(conn, ref)
    except NotFoundError:
        found = find_erased(conn, key, ref) if key is not None else None
        if found is None:
            raise
        return found, True
    return cid, _customer(conn, cid)["erased_at"] is not None


def _customer(conn: Connection, cid: int) -> dict[str, Any]:
    row = reports.customer(conn, cid)
    if row is None:
        raise NotFoundError(f"customer #{cid} not found; search by external id or phone digits")
    return row


def subject(conn: Connection, cid: int) -> dict[str, Any]:
    """Whom an erasure would forget: id, external id (a pseudonym once forgotten), erased_at."""
    row = _customer(conn, cid)
    return {"id": row["id"], "external_id": row["external_id"], "erased_at": row["erased_at"]}


def forget(
    conn: Connection, ref: str, *, key: bytes, reason: str, actor: str, now: datetime
) -> Forgotten:
    """Erase one customer in the caller's transaction and audit it; a repeat changes nothing."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            "--reason is required: say why (e.g. 'GDPR Art. 17 request, ticket 4711')"
        )
    cid, erased = resolve(conn, ref, key)
    if erased:
        seq = erasure_events(conn, cid)[-1]["seq"]
        return Forgotten(cid, str(_customer(conn, cid)["external_id"]), {}, int(seq), True)
    done = erase_customer(conn, cid, key=key, now=now)
    data: dict[str, Any] = {
        "pseudonym": done.pseudonym,
        "reason": mask_text(reason)[:200],
        "erased": done.counts,
    }
    seq = audit.append(conn, [audit.Event(actor, ERASED_ACTION, f"customer#{cid}", data)], now)
    return Forgotten(cid, done.pseudonym, done.counts, seq, False)


def erasure_events(conn: Connection, cid: int) -> list[dict[str, Any]]:
    """The pseudonymous erasure record(s) of one customer, as stored in the chain."""
    where = audit.EventFilter(subjects=[f"customer#{cid}"], action=ERASED_ACTION)
    return [pick(r, _STORED) for r in audit.events(conn, where)]


def is_pseudonym(external_id: str) -> bool:
    return external_id.startswith(ERASED_PREFIX)
