"""erasure and state rules: customers.erased_at, customers.state, suppressions.phone_hash

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=2), nullable=True))
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_suppressions_phone_hash", ["phone_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index("ix_suppressions_phone_hash")
        batch_op.drop_column("phone_hash")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("state")
        batch_op.drop_column("erased_at")
