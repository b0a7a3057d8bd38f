"""Status webhooks out: the endpoint tables, built into ``tables.metadata`` by ``tables``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine


def endpoint_tables(
    metadata: MetaData, ts: TypeEngine[datetime], id_type: TypeEngine[int]
) -> tuple[Table, Table, Table]:
    """``endpoints``, ``endpoint_messages`` (the outbox) and ``endpoint_attempts``."""
    return (
        _endpoints(metadata, ts, id_type),
        _messages(metadata, ts, id_type),
        _attempts(metadata, ts, id_type),
    )


def _endpoints(metadata: MetaData, ts: TypeEngine[datetime], id_type: TypeEngine[int]) -> Table:
    # The shop's receivers; after a rotation the old secret signs until ``previous_until``.
    return Table(
        "endpoints",
        metadata,
        Column("id", id_type, primary_key=True, autoincrement=True),
        Column("name", String(64), nullable=False, unique=True),
        Column("url", Text, nullable=False),
        Column("events", JSON, nullable=False),  # subscribed event types
        Column("secret", String(128), nullable=False),
        Column("previous_secret", String(128)),
        Column("previous_until", ts),
        Column("include_phone", Boolean, nullable=False, default=False),
        Column("status", String(16), nullable=False, default="active"),  # active | disabled
        Column("disabled_reason", Text),
        Column("failure_run", Integer, nullable=False, default=0),  # failed attempts in a row
        Column("created_at", ts, nullable=False),
        Column("updated_at", ts, nullable=False),
    )


def _messages(metadata: MetaData, ts: TypeEngine[datetime], id_type: TypeEngine[int]) -> Table:
    # The outbox of status events, one row per (event, endpoint): the same webhook-id on every
    # retry.
    return Table(
        "endpoint_messages",
        metadata,
        Column("id", id_type, primary_key=True, autoincrement=True),
        Column(
            "endpoint_id",
            id_type,
            ForeignKey("endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("webhook_id", String(64), nullable=False, unique=True),
        Column("event_type", String(40), nullable=False),
        Column("notification_id", id_type),
        Column("body", Text, nullable=False),
        Column("status", String(16), nullable=False),  # pending | delivered | failed
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", ts, nullable=False),
        Column("lease_until", ts),
        Column("lease_owner", String(64)),
        Column("last_status_code", Integer),
        Column("last_error", String(200)),
        Column("created_at", ts, nullable=False),
        Column("delivered_at", ts),
        Index("ix_endpoint_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_endpoint_messages_endpoint_id", "endpoint_id"),
        Index("ix_endpoint_messages_notification_id", "notification_id"),
    )


def _attempts(metadata: MetaData, ts: TypeEngine[datetime], id_type: TypeEngine[int]) -> Table:
    return Table(
        "endpoint_attempts",
        metadata,
        Column("id", id_type, primary_key=True, autoincrement=True),
        Column(
            "message_id",
            id_type,
            ForeignKey("endpoint_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("at", ts, nullable=False),
        Column("status_code", Integer),
        Column("excerpt", String(200)),  # of the response body: never more
        Column("error", String(200)),
        Column("duration_ms", Integer, nullable=False),
        Index("ix_endpoint_attempts_message_id", "message_id"),
    )
