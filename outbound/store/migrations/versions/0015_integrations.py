"""shop integrations: source kind, currency and shop URL; order and price memory

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

A source has a kind (``standard``, ``shopify``, ``woocommerce``) and, for the shop platforms,
the facts their payloads leave out (currency, shop URL). ``shop_orders`` remembers which
customer an order belongs to (a fulfillment does not say); ``shop_prices`` each SKU's last price
(a product update does not give the old one).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="standard")
        )
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("shop_url", sa.String(length=500), nullable=True))
    op.create_table(
        "shop_orders",
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_external_id", sa.String(length=128), nullable=False),
        sa.Column("order_name", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name="fk_shop_orders_source_id_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "order_id", name="pk_shop_orders"),
    )
    op.create_table(
        "shop_prices",
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("price", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name="fk_shop_prices_source_id_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "sku", name="pk_shop_prices"),
    )


def downgrade() -> None:
    op.drop_table("shop_prices")
    op.drop_table("shop_orders")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("shop_url")
        batch.drop_column("currency")
        batch.drop_column("kind")
