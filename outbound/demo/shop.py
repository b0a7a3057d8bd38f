"""The demo's Shopify step: a Shopify-shaped source posts, signed as Shopify signs (base64
HMAC-SHA256 of the body with the app's client secret), to the real API on a loopback port: a
customer (with SMS marketing consent), an order, its fulfillment (one shipping notification)
and a ``products/update`` that first records, then lowers, a wishlisted SKU's price (a price
drop to its wishlists). The status events these cause reach the demo's loopback receiver."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from outbound import bootstrap
from outbound.services.intake import sources
from outbound.services.integrations.signatures import sign

NAME = "demo-shopify"
CUSTOMER_ID = 7064055069
ORDER_ID = 8209829119
SKU = "SKU-KETTLE"


def _customer() -> dict[str, Any]:
    address = {
        "id": 1,
        "customer_id": CUSTOMER_ID,
        "address1": "151 O'Connor Street",
        "city": "San Francisco",
        "province": "California",
        "country": "United States",
        "zip": "94103",
        "phone": "+14155550177",
        "province_code": "CA",
        "country_code": "US",
        "default": True,
    }
    return {
        "id": CUSTOMER_ID,
        "email": "dana@example.com",
        "first_name": "Dana",
        "last_name": "Demo",
        "state": "enabled",
        "phone": "+14155550177",
        "currency": "USD",
        "addresses": [address],
        "default_address": address,
        "sms_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2026-11-26T09:00:00-05:00",
            "consent_collected_from": "SHOPIFY",
        },
        "admin_graphql_api_id": f"gid://shopify/Customer/{CUSTOMER_ID}",
    }


def _product(price: str) -> dict[str, Any]:
    variant = {"id": 808950810, "product_id": 632910392, "title": "Default Title"}
    return {
        "id": 632910392,
        "title": "Electric kettle",
        "handle": "electric-kettle",
        "variants": [{**variant, "price": price, "sku": SKU}],
    }


def _deliveries() -> list[tuple[str, dict[str, Any]]]:
    order = {
        "id": ORDER_ID,
        "name": "#1001",
        "currency": "USD",
        "total_price": "89.00",
        "customer": _customer(),
        "line_items": [{"id": 1, "sku": SKU, "price": "89.00", "quantity": 1}],
        "fulfillments": [],
    }
    fulfillment = {
        "id": 4711,
        "order_id": ORDER_ID,
        "status": "success",
        "tracking_company": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "tracking_numbers": ["1Z999AA10123456784"],
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "name": "#1001.1",
    }
    return [
        ("customers/create", _customer()),
        ("orders/create", order),
        ("fulfillments/create", fulfillment),
        ("products/update", _product("89.00")),
        ("products/update", _product("69.00")),
    ]


def shopify_step(
    app: bootstrap.App, say: Callable[[str], None], api_server: Callable[..., Any]
) -> None:
    from outbound.testing.postgres import free_port

    secret = "shpss_" + secrets.token_hex(16)
    with app.engine.begin() as conn:
        shop = sources.Shop("shopify", "USD", "https://shop.example")
        sources.add_source(
            conn, NAME, [], 1000, secret=secret, now=app.clock(), actor="demo", shop=shop
        )
    port = free_port()
    server = api_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, name="demo-shop-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        said = _post_all(f"http://127.0.0.1:{port}/v1/integrations/shopify/{NAME}", secret)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    say(f"Shopify-shaped source {NAME!r} (signed X-Shopify-Hmac-SHA256): " + "; ".join(said))


def _post_all(url: str, secret: str) -> list[str]:
    said = []
    with httpx.Client(timeout=30) as client:
        for topic, body in _deliveries():
            raw = json.dumps(body).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Hmac-Sha256": sign(secret, raw),
                "X-Shopify-Shop-Domain": "demo-shop.myshopify.com",
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            }
            answer = client.post(url, content=raw, headers=headers)
            said.append(f"{topic} -> {_summary(answer)}")
    return said


def _summary(answer: httpx.Response) -> str:
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    body = answer.json()
    notes = body.get("notification_ids") or []
    if notes:
        return f"{len(notes)} notification(s) {notes}"
    return str((body.get("done") or body.get("ignored") or ["recorded"])[-1])
