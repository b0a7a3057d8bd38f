"""voice admission state per dialer

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

One row per dialer process: whether it takes new calls (admission control, ``voice/admission``),
why not, and what it measured; the status view reads it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_admission",
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("clock_late_ms", sa.Float(), nullable=True),
        sa.Column("media_cpu", sa.Float(), nullable=True),
        sa.Column("load_per_core", sa.Float(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("admitted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_voice_admission")),
    )


def downgrade() -> None:
    op.drop_table("voice_admission")
