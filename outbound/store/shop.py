"""The shop integrations' memory: which customer an order belongs to, each SKU's last price.

Both keyed by source, so two shops never mix; ``erase_shop`` forgets one shop's rows
(Shopify's ``shop/redact``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from outbound.store.tables import customers, shop_orders, shop_prices


def remember_order(
    conn: Connection,
    source_id: int,
    order_id: str,
    customer: str,
    name: str | None,
    now: datetime,
) -> None:
    """Insert or update the order's customer (and shown name)."""
    key = (shop_orders.c.source_id == source_id, shop_orders.c.order_id == order_id)
    values: dict[str, Any] = {"customer_external_id": customer, "updated_at": now}
    if name:
        values["order_name"] = name
    if conn.execute(update(shop_orders).where(*key).values(**values)).rowcount == 0:
        conn.execute(insert(shop_orders).values(source_id=source_id, order_id=order_id, **values))


def order_of(conn: Connection, source_id: int, order_id: str) -> tuple[str, str | None] | None:
    """(customer external id, order name) of a remembered order, or None."""
    row = conn.execute(
        select(shop_orders.c.customer_external_id, shop_orders.c.order_name).where(
            shop_orders.c.source_id == source_id, shop_orders.c.order_id == order_id
        )
    ).first()
    return None if row is None else (row.customer_external_id, row.order_name)


def forget_orders(conn: Connection, source_id: int, customer: str) -> int:
    """Drop the order map rows of one customer (its redaction); returns how many."""
    return int(
        conn.execute(
            delete(shop_orders).where(
                shop_orders.c.source_id == source_id,
                shop_orders.c.customer_external_id == customer,
            )
        ).rowcount
    )


def last_price(conn: Connection, source_id: int, sku: str) -> Decimal | None:
    price = conn.execute(
        select(shop_prices.c.price).where(
            shop_prices.c.source_id == source_id, shop_prices.c.sku == sku
        )
    ).scalar_one_or_none()
    return None if price is None else Decimal(price)


def remember_price(
    conn: Connection,
    source_id: int,
    sku: str,
    price: Decimal,
    title: str,
    url: str,
    now: datetime,
) -> None:
    key = (shop_prices.c.source_id == source_id, shop_prices.c.sku == sku)
    values = {"price": str(price), "title": title[:200], "url": url[:500], "updated_at": now}
    if conn.execute(update(shop_prices).where(*key).values(**values)).rowcount == 0:
        conn.execute(insert(shop_prices).values(source_id=source_id, sku=sku, **values))


def shop_customer_refs(conn: Connection, source_name: str) -> list[str]:
    """External ids of the customers a shop source created (``<source>:<id>``), not forgotten."""
    prefix = f"{source_name}:"
    rows = conn.execute(
        select(customers.c.external_id).where(
            customers.c.external_id.startswith(prefix, autoescape=True)
        )
    ).scalars()
    return [str(r) for r in rows]


def erase_shop(conn: Connection, source_id: int) -> dict[str, int]:
    """Forget a shop's order map and price memory; the counts."""
    orders = conn.execute(delete(shop_orders).where(shop_orders.c.source_id == source_id))
    prices = conn.execute(delete(shop_prices).where(shop_prices.c.source_id == source_id))
    return {"shop_orders": int(orders.rowcount), "shop_prices": int(prices.rowcount)}
