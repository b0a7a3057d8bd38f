"""Shopify webhooks (Admin REST webhook payloads) mapped to outbound's actions — pure functions.

One function per topic group; ``map_topic`` picks it from ``X-Shopify-Topic``. Shopify's ids
are numbers, its prices decimal strings (``"199.00"``); a fulfillment payload does not carry its
customer (the order map answers), a product update not the old price (the price memory does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.services.integrations.model import (
    Action,
    ConsentChange,
    CustomerSeen,
    DataRequest,
    Ignored,
    Mapped,
    OrderSeen,
    Parcel,
    PriceSeen,
    Redact,
    Shipped,
    ref,
)
from outbound.services.integrations.people import address, contact, full_name, text

#: sms_marketing_consent.state -> what the ledger records (other states change nothing)
_CONSENT = {"subscribed": ConsentAction.GRANT, "unsubscribed": ConsentAction.REVOKE}


def customer(source: str, c: Mapping[str, Any], *, only_if_new: bool = False) -> CustomerSeen:
    """``customers/create|update`` (and an order's embedded customer)."""
    home = address(c, "default_address")
    data, dropped = contact(
        ref(source, c["id"]),
        full_name(c.get("first_name"), c.get("last_name")),
        c.get("phone") or home.get("phone"),
        home.get("country_code"),
        home.get("province_code"),
    )
    return CustomerSeen(data, sms_consent(c.get("sms_marketing_consent")), only_if_new, dropped)


def sms_consent(consent: Any) -> tuple[ConsentChange, ...]:
    """Shopify's ``sms_marketing_consent`` as a ledger entry carrying its evidence."""
    if not isinstance(consent, Mapping) or consent.get("state") not in _CONSENT:
        return ()
    evidence = (
        f"shopify sms_marketing_consent state={text(consent.get('state'), 20)}"
        f" opt_in_level={text(consent.get('opt_in_level'), 40) or '-'}"
        f" collected_from={text(consent.get('consent_collected_from'), 40) or '-'}"
        f" updated_at={text(consent.get('consent_updated_at'), 40) or '-'}"
    )
    action = _CONSENT[consent["state"]]
    return (ConsentChange(Channel.SMS, Purpose.MARKETING, action, evidence),)


def order(source: str, o: Mapping[str, Any]) -> list[Action]:
    """``orders/create|updated``: whose order it is (and that customer, if new to us)."""
    c = o.get("customer")
    if not isinstance(c, Mapping) or c.get("id") is None:
        return [Ignored("orders", "the order has no customer (a guest checkout without one)")]
    name = text(o.get("name"), 64) or None
    return [
        customer(source, c, only_if_new=True),
        OrderSeen(str(o["id"]), ref(source, c["id"]), name),
    ]


def parcel(f: Mapping[str, Any]) -> Parcel | None:
    """One fulfillment as a parcel; None while it has no tracking number or was cancelled."""
    number = text(f.get("tracking_number"), 64)
    if not number and isinstance(f.get("tracking_numbers"), list) and f["tracking_numbers"]:
        number = text(f["tracking_numbers"][0], 64)
    if not number or f.get("status") in ("cancelled", "error", "failure"):
        return None
    url = text(f.get("tracking_url"), 2000) or None
    carrier = text(f.get("tracking_company")) or "carrier"
    return Parcel(str(f["id"]), carrier, number, url)


def fulfillment(source: str, f: Mapping[str, Any]) -> list[Action]:
    """``fulfillments/create|update``: one parcel of an order (its customer from the order map)."""
    found = parcel(f)
    if found is None:
        return [Ignored("fulfillments", "no tracking number yet (or cancelled): nothing to send")]
    return [Shipped(str(f["order_id"]), (found,))]


def fulfilled(source: str, o: Mapping[str, Any]) -> list[Action]:
    """``orders/fulfilled``: every fulfillment of the order, one parcel each — the same dedupe
    keys as their ``fulfillments/create``, so a parcel is announced once."""
    parcels = tuple(
        p for f in o.get("fulfillments") or [] if isinstance(f, Mapping) and (p := parcel(f))
    )
    if not parcels:
        return [Ignored("orders/fulfilled", "no fulfillment with a tracking number")]
    actions: list[Action] = order(source, o)
    known = next((a.customer for a in actions if isinstance(a, OrderSeen)), None)
    name = text(o.get("name"), 64) or None
    return [*actions, Shipped(str(o["id"]), parcels, name, known)]


def prices(source: str, p: Mapping[str, Any], shop_url: str) -> list[Action]:
    """``products/update``: each variant's price by SKU (variants without a SKU are skipped)."""
    url = f"{shop_url.rstrip('/')}/products/{text(p.get('handle'), 300)}"
    title = text(p.get("title"))
    out: list[Action] = []
    for v in p.get("variants") or []:
        sku, price = text(v.get("sku"), 64), _decimal(v.get("price"))
        if not sku or price is None:
            continue
        variant = text(v.get("title"))
        named = f"{title} – {variant}" if variant and variant != "Default Title" else title
        out.append(PriceSeen(sku, price, named[:200] or sku, url))
    return out or [Ignored("products/update", "no variant with a SKU and a price")]


def _decimal(raw: Any) -> Decimal | None:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and value >= 0 else None


def redact_customer(source: str, r: Mapping[str, Any]) -> list[Action]:
    orders = tuple(str(o) for o in r.get("orders_to_redact") or [])
    return [Redact(ref(source, r["customer"]["id"]), orders)]


def data_request(source: str, r: Mapping[str, Any]) -> list[Action]:
    request = address(r, "data_request").get("id", "")
    return [DataRequest(ref(source, r["customer"]["id"]), str(request))]


_TOPICS: dict[str, Callable[[str, Mapping[str, Any]], list[Action]]] = {
    "customers/create": lambda s, b: [customer(s, b)],
    "customers/update": lambda s, b: [customer(s, b)],
    "orders/create": order,
    "orders/updated": order,
    "fulfillments/create": fulfillment,
    "fulfillments/update": fulfillment,
    "orders/fulfilled": fulfilled,
    "customers/redact": redact_customer,
    "shop/redact": lambda s, b: [Redact(None)],
    "customers/data_request": data_request,
}
TOPICS = (*_TOPICS, "products/update")


def map_topic(topic: str, source: str, payload: Any, shop_url: str) -> Mapped:
    """The actions of one delivery; an unknown topic (or a payload that is not an object) maps
    to ``Ignored``. A payload missing an id it needs raises ``KeyError``/``TypeError``."""
    if not isinstance(payload, Mapping):
        return Mapped(topic, (Ignored(topic, "the body is not a JSON object"),))
    if topic == "products/update":
        return Mapped(topic, tuple(prices(source, payload, shop_url)))
    handler = _TOPICS.get(topic)
    if handler is None:
        return Mapped(topic, (Ignored(topic, "not a topic outbound acts on"),))
    return Mapped(topic, tuple(handler(source, payload)))
