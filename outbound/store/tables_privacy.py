"""Tables of personal data kept beside the audit chain, never in it (erasure clears them).

Declared on ``outbound.store.tables.metadata`` by that module (``declare``), which is where
every reader imports them from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, MetaData, String, Table, Text


def declare(metadata: MetaData, Id: Any, TS: Any) -> tuple[Table, Table]:
    """``inbound_texts`` and ``privacy_state`` on ``metadata`` (the id and timestamp types
    of ``outbound.store.tables``)."""

    # The free text of inbound messages: the chain keeps its hash, length and keyword only.
    inbound_texts = Table(
        "inbound_texts",
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE")),
        Column("phone_e164", String(16)),  # set when no customer had the number
        Column("channel", String(8), nullable=False),
        Column("keyword", String(16), nullable=False),
        Column("text", Text, nullable=False),
        Column("text_hash", String(64), nullable=False),  # keyed, as in the chain
        Column("audit_seq", BigInteger),  # the inbound.message event it belongs to
        Column("at", TS, nullable=False),
        Index("ix_inbound_texts_customer_id", "customer_id"),
        Index("ix_inbound_texts_phone_e164", "phone_e164"),
    )

    # Per-database privacy settings: a search salt, the fingerprint of the erasure key in use.
    privacy_state = Table(
        "privacy_state",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("value", String(128), nullable=False),
        Column("at", TS, nullable=False),
    )
    return inbound_texts, privacy_state
