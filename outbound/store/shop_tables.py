"""Tables of the shop integrations (Shopify, WooCommerce), on the one ``metadata`` of ``tables``.

A fulfillment payload does not carry its customer and a product update does not carry the old
price, so the intake remembers both: which customer an order belongs to, and each SKU's last
price (migration 0015_integrations). Rows belong to their source and go with ``shop/redact``.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table

from outbound.store.tables import TS, Id, metadata

# order id (the platform's) -> the external id of the customer who placed it
shop_orders = Table(
    "shop_orders",
    metadata,
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("order_id", String(64), primary_key=True),
    Column("customer_external_id", String(128), nullable=False),
    Column("updated_at", TS, nullable=False),
)

# SKU -> its last price seen on the platform (a plain decimal string, e.g. "19.99")
shop_prices = Table(
    "shop_prices",
    metadata,
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("price", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("url", String(500), nullable=False),
    Column("updated_at", TS, nullable=False),
)
