"""WooCommerce webhooks (REST API v3 resources) mapped to outbound's actions — pure functions.

WooCommerce sends the resource itself (a customer, an order, a product) with the topic in
``X-WC-Webhook-Topic``. A shipment is an order whose status is ``completed`` and that carries
the Shipment Tracking extension's ``_wc_shipment_tracking_items`` in its ``meta_data``: one
parcel per tracking item. A guest's order (``customer_id`` 0) gets a customer of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from outbound.services.integrations.model import (
    Action,
    CustomerSeen,
    Ignored,
    Mapped,
    OrderSeen,
    Parcel,
    PriceSeen,
    Shipped,
    ref,
)
from outbound.services.integrations.people import address, contact, full_name, text

TRACKING_META = "_wc_shipment_tracking_items"
#: the Shipment Tracking extension's provider slugs as a customer reads them
_CARRIERS = {"usps": "USPS", "ups": "UPS", "fedex": "FedEx", "dhl": "DHL", "tnt": "TNT"}


def customer_ref(source: str, o: Mapping[str, Any]) -> str:
    cid = o.get("customer_id")
    return ref(source, cid) if cid else ref(source, f"guest-{o['id']}")


def customer(source: str, c: Mapping[str, Any], *, only_if_new: bool = False) -> CustomerSeen:
    """``customer.created|updated`` (and an order's billing address, for a customer new to us)."""
    billing = address(c, "billing")
    data, dropped = contact(
        ref(source, c["id"]),
        full_name(
            c.get("first_name") or billing.get("first_name"),
            c.get("last_name") or billing.get("last_name"),
        ),
        billing.get("phone"),
        billing.get("country"),
        billing.get("state"),
    )
    return CustomerSeen(data, (), only_if_new, dropped)


def order(source: str, o: Mapping[str, Any]) -> list[Action]:
    """``order.created|updated``: whose order it is; when ``completed`` with tracking items,
    a parcel for each (the same tracking id on a later update is the same parcel)."""
    who = customer_ref(source, o)
    billing = address(o, "billing")
    seen = customer(source, {"id": who.split(":", 1)[1], "billing": billing}, only_if_new=True)
    name = text(o.get("number"), 63) or str(o["id"])
    actions: list[Action] = [seen, OrderSeen(str(o["id"]), who, f"#{name}")]
    if o.get("status") != "completed":
        return actions
    parcels = tuple(p for item in tracking_items(o) if (p := parcel(item)))
    if not parcels:
        return [*actions, Ignored("order.updated", "completed without shipment tracking items")]
    return [*actions, Shipped(str(o["id"]), parcels, f"#{name}", who)]


def tracking_items(o: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for meta in o.get("meta_data") or []:
        if isinstance(meta, Mapping) and meta.get("key") == TRACKING_META:
            value = meta.get("value")
            return [i for i in value if isinstance(i, Mapping)] if isinstance(value, list) else []
    return []


def parcel(item: Mapping[str, Any]) -> Parcel | None:
    number = text(item.get("tracking_number"), 64)
    if not number:
        return None
    slug = text(item.get("tracking_provider"), 64)
    carrier = text(item.get("custom_tracking_provider")) or _CARRIERS.get(slug.lower(), slug)
    url = text(item.get("custom_tracking_link"), 2000) or None
    return Parcel(text(item.get("tracking_id"), 64) or number, carrier or "carrier", number, url)


def product(source: str, p: Mapping[str, Any]) -> list[Action]:
    """``product.updated``: the product's (or variation's) price by SKU."""
    sku = text(p.get("sku"), 64)
    try:
        price = Decimal(str(p.get("price")))
    except (InvalidOperation, ValueError):
        price = None
    if not sku or price is None or not price.is_finite() or price < 0:
        return [Ignored("product.updated", "no SKU or no price (a variable product's parent)")]
    url = text(p.get("permalink"), 500) or ""
    return [PriceSeen(sku, price, text(p.get("name")) or sku, url)]


TOPICS = (
    "customer.created",
    "customer.updated",
    "order.created",
    "order.updated",
    "product.updated",
)


def map_topic(topic: str, source: str, payload: Any, shop_url: str) -> Mapped:
    """The actions of one delivery; an unknown topic maps to ``Ignored``."""
    if not isinstance(payload, Mapping):
        return Mapped(topic, (Ignored(topic, "the body is not a JSON object"),))
    if topic in ("customer.created", "customer.updated"):
        return Mapped(topic, (customer(source, payload),))
    if topic in ("order.created", "order.updated"):
        return Mapped(topic, tuple(order(source, payload)))
    if topic == "product.updated":
        actions = product(source, payload)
        if isinstance(actions[0], PriceSeen) and not actions[0].url:
            first = actions[0]
            url = f"{shop_url.rstrip('/')}/?p={payload.get('id')}"
            actions = [PriceSeen(first.sku, first.price, first.title, url)]
        return Mapped(topic, tuple(actions))
    return Mapped(topic, (Ignored(topic, "not a topic outbound acts on"),))
