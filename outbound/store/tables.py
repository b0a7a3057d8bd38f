"""SQLAlchemy Core tables (and ``voice_tables``, ``endpoint_tables``): what migrations create.

Explicit columns (JSON only for free-form payloads and traces); enums stored by value;
timestamps stored as timezone-aware UTC (on SQLite as integer microseconds since the epoch)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from outbound.store import shop_tables, tables_privacy
from outbound.store.endpoint_tables import endpoint_tables
from outbound.store.types import UTCDateTime
from outbound.store.voice_tables import admission_table

metadata: MetaData = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger primary keys that still autoincrement on SQLite (which wants INTEGER).
Id = BigInteger().with_variant(Integer(), "sqlite")
TS: UTCDateTime = UTCDateTime()

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("external_id", String(128), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("locale", String(16), nullable=False, default="en-US"),
    Column("timezone", String(64)),
    Column("phone_e164", String(16)),
    Column("country", String(2)),
    Column("state", String(2)),  # US state (postal code) from the profile: state calling windows
    Column("membership_tier", String(32)),
    Column("membership_expires_on", Date),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
    Column("erased_at", TS),  # set by `customer forget`: the row stays as a pseudonymous stub
    Index("ix_customers_membership_expires_on", "membership_expires_on"),
)

wishlist_items = Table(
    "wishlist_items",
    metadata,
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Index("ix_wishlist_items_sku", "sku"),
)

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # webpush | fcm | apns
    Column("endpoint", Text, nullable=False),
    Column("keys", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("customer_id", "endpoint", name="uq_push_subscriptions_customer_endpoint"),
)

preferences = Table(
    "preferences",
    metadata,
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("channel", String(8), nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(8)),  # NULL = every channel
    Column("purpose", String(16)),  # NULL = every purpose
    Column("action", String(8), nullable=False),
    Column("written", Boolean, nullable=False, default=False),
    Column("source", String(64), nullable=False),
    Column("evidence", Text, nullable=False, default=""),
    Column("actor", String(128), nullable=False),
    Column("at", TS, nullable=False),
    Index("ix_consents_customer_id", "customer_id"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE")),
    Column("phone_e164", String(16)),
    # HMAC-SHA256 of the number under [privacy] erasure_key, once the customer was forgotten
    Column("phone_hash", String(64)),
    Column("reason", String(200), nullable=False),
    Column("at", TS, nullable=False),
    Index("ix_suppressions_customer_id", "customer_id"),
    Index("ix_suppressions_phone_e164", "phone_e164"),
    Index("ix_suppressions_phone_hash", "phone_hash"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("segment", JSON, nullable=False, default=dict),
    Column("params", JSON, nullable=False, default=dict),
    Column("schedule", String(64), nullable=False),  # crontab, 5 fields
    Column("timezone", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", TS, nullable=False),
)

campaign_runs = Table(
    "campaign_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("campaign_id", Id, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("fire_time", TS, nullable=False),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("selected", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("error", Text),  # why a firing stopped (it is finished all the same); NULL = it ran
    UniqueConstraint("campaign_id", "fire_time", name="uq_campaign_runs_campaign_fire"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("campaign_id", Id, ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("source", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS),
    Column("decisions", JSON, nullable=False, default=list),  # every decision with its trace
    # explicit channel list replacing the customer's preference; None is SQL NULL, not 'null'
    Column("channels", JSON(none_as_null=True)),
    Index("ix_notifications_customer_id", "customer_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "notification_id",
        Id,
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("channel", String(8)),  # planned channel; re-decided at claim time
    Column("rung", Integer, nullable=False, default=0),
    Column("due_at", TS, nullable=False),
    Column("status", String(16), nullable=False),
    Column("lease_until", TS),
    Column("lease_owner", String(64)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("caps_reserved", JSON),  # CapCheck keys reserved for this delivery, released on reject
    Column("provider_ref", String(128)),
    Column("outcome", String(16)),
    Column("detail", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_deliveries_status_due_at", "status", "due_at"),
    Index("ix_deliveries_notification_id", "notification_id"),
)

# Keys look like "c<customer id>:<rule>:…" (policy/caps.py); customer_id repeats the id so a
# customer's counters are one indexed IN-query when snapshots are built in bulk.
cap_counters = Table(
    "cap_counters",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("customer_id", Id, nullable=False),
    Column("n", Integer, nullable=False, default=0),
    Index("ix_cap_counters_customer_id", "customer_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=False),
    Column("at", TS, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON, phones masked
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # HMAC-SHA256(audit key, hash): the key is never in the database; NULL = written without one
    Column("mac", String(64), nullable=True),
)

# One row (id=1): the head of the audit chain. Updating it serializes appenders on every engine.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# Stand-in provider for the embedded default: what the log channel "sent", once per delivery.
log_sends = Table(
    "log_sends",
    metadata,
    Column("idempotency_key", String(64), primary_key=True),
    Column("channel", String(8), nullable=False),
    Column("customer_id", Id, nullable=False),
    Column("text", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("at", TS, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("events", JSON, nullable=False),  # allowed event types
    Column("rate_per_second", Integer, nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", TS, nullable=False),
    # standard (Standard Webhooks, our events) | shopify | woocommerce (0015_integrations)
    Column("kind", String(16), nullable=False, server_default="standard"),
    Column("currency", String(3)),  # shopify/woocommerce: what the payloads leave out
    Column("shop_url", String(500)),
)

# Several live secrets per source make rotation seamless; an old one expires at expires_at.
source_secrets = Table(
    "source_secrets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS),
    Index("ix_source_secrets_source_id", "source_id"),
)

# One row per accepted webhook-id: the idempotent answer to a retry, and replay protection.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("webhook_id", String(255), nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("source_id", "webhook_id", name="uq_webhook_receipts_source_webhook"),
)

# Token buckets shared by every worker process: one row per provider limit, taken by a single
# conditional UPDATE (see outbound/store/throttle.py). Times are epoch seconds.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("stamp", Float, nullable=False),
)

# A link a process keeps (a dialer's trunk registration): state registered|failed|off, written
# on change; /readyz is 503 while one is failed. detail: the last answer ("403 Forbidden").
link_status = Table(
    "link_status",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("detail", String(500), nullable=False),
    Column("changed_at", TS, nullable=False),
)
# Every provider message id of a delivery (a long SMS has one per part): receipts find it here.
# A receipt can beat the "sent" record of its delivery; it waits here with delivery_id NULL.
provider_refs = Table(
    "provider_refs",
    metadata,
    Column("channel", String(8), primary_key=True),
    Column("ref", String(128), primary_key=True),
    Column("delivery_id", Id, ForeignKey("deliveries.id", ondelete="CASCADE")),
    Column("outcome", String(16)),  # per part, from its receipt
    Column("detail", JSON),  # the receipt's state and error code
    Column("created_at", TS, nullable=False),
    Index("ix_provider_refs_delivery_id", "delivery_id"),
)

# What the shop's app reported about a push (POST /v1/receipts), and whether an unopened push
# was escalated to the next channel of the ladder.
push_receipts = Table(
    "push_receipts",
    metadata,
    Column("delivery_id", Id, ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True),
    Column("delivered_at", TS),
    Column("opened_at", TS),
    Column("escalated_to", Id),  # the next-rung delivery made when it stayed unopened
    Column("updated_at", TS, nullable=False),
)

# People who sign in to /console: an argon2 hash, never the password; a lock after failures.
console_users = Table(
    "console_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # compliance | operator
    Column("password_hash", String(255), nullable=False),
    Column("status", String(16), nullable=False, default="active"),  # active | disabled
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", TS),
    Column("created_at", TS, nullable=False),
    Column("last_login_at", TS),
)

# Server-side sessions: the cookie carries a random token, the table only its SHA-256.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("ix_console_sessions_user_id", "user_id"),
)
voice_admission = admission_table(metadata, TS)  # store/voice_tables.py (this file is full)
inbound_texts, privacy_state = tables_privacy.declare(metadata, Id, TS)  # store/tables_privacy.py
# Status webhooks out: store/endpoint_tables.py
endpoints, endpoint_messages, endpoint_attempts = endpoint_tables(metadata, TS, Id)
shop_orders, shop_prices = shop_tables.declare(metadata, TS, Id)  # store/shop_tables.py (0015)
from outbound.store.ops_tables import heartbeats  # noqa: E402, F401  (operations tables: 0012)
