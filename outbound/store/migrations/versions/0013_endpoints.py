"""status webhook endpoints, their outbox and delivery attempts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("previous_secret", sa.String(length=128), nullable=True),
        sa.Column("previous_until", TS, nullable=True),
        sa.Column("include_phone", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("failure_run", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("name", name=op.f("uq_endpoints_name")),
    )
    op.create_table(
        "endpoint_messages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("notification_id", ID, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_messages_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_messages")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_endpoint_messages_webhook_id")),
    )
    with op.batch_alter_table("endpoint_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_endpoint_messages_status_next_attempt_at", ["status", "next_attempt_at"]
        )
        batch_op.create_index("ix_endpoint_messages_endpoint_id", ["endpoint_id"])
        batch_op.create_index("ix_endpoint_messages_notification_id", ["notification_id"])
    op.create_table(
        "endpoint_attempts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("excerpt", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["endpoint_messages.id"],
            name=op.f("fk_endpoint_attempts_message_id_endpoint_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_attempts")),
    )
    with op.batch_alter_table("endpoint_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_endpoint_attempts_message_id", ["message_id"])


def downgrade() -> None:
    op.drop_table("endpoint_attempts")
    op.drop_table("endpoint_messages")
    op.drop_table("endpoints")
