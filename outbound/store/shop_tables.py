"""Tables of the shop integrations (Shopify, WooCommerce), on the one ``metadata`` of ``tables``.

A fulfillment payload does not carry its customer and a product update does not carry the old
price, so the intake remembers both: which customer an order belongs to, and each SKU's last
price (migration 0015_integrations). Rows belong to their source and go with ``shop/redact``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, MetaData, String, Table
from sqlalchemy.types import TypeEngine


def declare(
    metadata: MetaData, ts: TypeEngine[datetime], id_type: TypeEngine[int]
) -> tuple[Table, Table]:
    """``shop_orders`` and ``shop_prices`` on ``tables.metadata``."""
    return _orders(metadata, ts, id_type), _prices(metadata, ts, id_type)


def _orders(metadata: MetaData, ts: TypeEngine[datetime], id_type: TypeEngine[int]) -> Table:
    # order id (the platform's) -> the external id of the customer who placed it
    return Table(
        "shop_orders",
        metadata,
        Column(
            "source_id", id_type, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
        ),
        Column("order_id", String(64), primary_key=True),
        Column("customer_external_id", String(128), nullable=False),
        Column("order_name", String(64)),  # what the shop shows, e.g. "#1001"
        Column("updated_at", ts, nullable=False),
    )


def _prices(metadata: MetaData, ts: TypeEngine[datetime], id_type: TypeEngine[int]) -> Table:
    # SKU -> its last price seen on the platform (a plain decimal string, e.g. "19.99")
    return Table(
        "shop_prices",
        metadata,
        Column(
            "source_id", id_type, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
        ),
        Column("sku", String(64), primary_key=True),
        Column("price", String(32), nullable=False),
        Column("title", String(200), nullable=False),
        Column("url", String(500), nullable=False),
        Column("updated_at", ts, nullable=False),
    )
