"""personal data out of the audit chain: inbound_texts, privacy_state

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The free text of an inbound message moves out of the append-only audit chain (which keeps its
hash, length and keyword) into ``inbound_texts``, which erasure clears. ``privacy_state`` holds
per-database values (the console search salt, the erasure key's fingerprint).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbound_texts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("phone_e164", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_inbound_texts_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_texts"),
    )
    op.create_index("ix_inbound_texts_customer_id", "inbound_texts", ["customer_id"])
    op.create_index("ix_inbound_texts_phone_e164", "inbound_texts", ["phone_e164"])
    op.create_table(
        "privacy_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_privacy_state"),
    )


def downgrade() -> None:
    op.drop_table("privacy_state")
    op.drop_index("ix_inbound_texts_phone_e164", table_name="inbound_texts")
    op.drop_index("ix_inbound_texts_customer_id", table_name="inbound_texts")
    op.drop_table("inbound_texts")
