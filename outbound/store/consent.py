"""Reads of the consent ledger and suppressions: what a customer agreed to, and when.

The writes (with their audit events) live with the customer's changes; these are what the
views, exports and reports read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from outbound.domain.values import ConsentAction
from outbound.store.rows import as_dicts
from outbound.store.snapshots import chunks
from outbound.store.tables import consents, suppressions


def consent_rows(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """Every consent change of one customer, oldest first, every column."""
    query = select(consents).where(consents.c.customer_id == customer_id).order_by(consents.c.id)
    return as_dicts(conn.execute(query))


def suppression_rows(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """One customer's suppressions, oldest first, every column."""
    query = (
        select(suppressions)
        .where(suppressions.c.customer_id == customer_id)
        .order_by(suppressions.c.id)
    )
    return as_dicts(conn.execute(query))


def revocations(conn: Connection, customer_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Revokes of these customers: customer_id, channel (None = every channel), at."""
    out: list[dict[str, Any]] = []
    for part in chunks(sorted(set(customer_ids))):
        query = select(consents.c.customer_id, consents.c.channel, consents.c.at).where(
            consents.c.customer_id.in_(part), consents.c.action == ConsentAction.REVOKE.value
        )
        out += as_dicts(conn.execute(query))
    return out
