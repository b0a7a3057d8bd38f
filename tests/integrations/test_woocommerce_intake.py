"""WooCommerce's webhooks through a real server: REST API v3 resources, signed as WooCommerce
signs (``X-WC-Webhook-Signature``), and its unsigned ping on webhook creation."""

from __future__ import annotations

import copy
import json

import httpx

from tests.integrations.conftest import Shops, payload


def test_the_unsigned_ping_on_webhook_creation_is_200_and_writes_nothing(shops: Shops) -> None:
    before = shops.writes()
    ping = httpx.post(
        f"{shops.server.url}/v1/integrations/woocommerce/woo",
        content=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert ping.status_code == 200
    assert shops.writes() == before


def test_an_unsigned_delivery_that_is_not_a_ping_is_401(shops: Shops) -> None:
    before = shops.writes()
    unsigned = httpx.post(
        f"{shops.server.url}/v1/integrations/woocommerce/woo",
        content=json.dumps(payload("woocommerce/customer_created")).encode(),
        headers={"Content-Type": "application/json", "X-WC-Webhook-Topic": "customer.created"},
        timeout=30,
    )
    assert unsigned.status_code == 401
    assert shops.writes() == before


def test_a_completed_order_with_tracking_items_sends_one_shipping_notification(
    shops: Shops,
) -> None:
    assert shops.woo("customer.created", payload("woocommerce/customer_created")).status_code == 200
    order = payload("woocommerce/order_completed")
    processing = {**copy.deepcopy(order), "status": "processing", "meta_data": []}
    assert shops.woo("order.created", processing).json()["notification_ids"] == []
    done = shops.woo("order.updated", order)
    again = shops.woo("order.updated", order)  # another delivery, the same parcel
    assert done.status_code == 200 and len(done.json()["notification_ids"]) == 1
    assert again.json()["notification_ids"] == done.json()["notification_ids"]
    rows = shops.rows(
        "SELECT c.external_id, c.phone_e164, c.country, n.payload FROM notifications n "
        "JOIN customers c ON c.id = n.customer_id"
    )
    assert len(rows) == 1
    ext, phone, country, raw = rows[0]
    assert (ext, phone, country) == ("woo:25", "+49301234567", "DE")
    sent = raw if isinstance(raw, dict) else json.loads(raw)
    assert sent == {
        "order_id": "#727",
        "carrier": "DHL",
        "tracking_no": "00340434161094015902",
        "shipment_id": "a6d3b4f0c1e2d3f4a5b6c7d8e9f0a1b2",
    }


def test_a_completed_order_without_tracking_items_is_recorded_as_ignored(shops: Shops) -> None:
    order = {**payload("woocommerce/order_completed"), "meta_data": []}
    answer = shops.woo("order.updated", order)
    assert answer.status_code == 200
    assert answer.json()["ignored"] == ["order.updated: completed without shipment tracking items"]
    assert shops.count("SELECT count(*) FROM notifications") == 0
    assert shops.rows("SELECT order_id, order_name FROM shop_orders")[0] == ("727", "#727")


def test_a_lower_woocommerce_price_fans_out_in_the_sources_currency(shops: Shops) -> None:
    event = {
        "type": "customer.upserted",
        "data": {"external_id": "w1", "wishlist": ["PREMIUM-Q-19"]},
    }
    assert shops.server.post(event).status_code == 202
    product = payload("woocommerce/product_updated")
    assert shops.woo("product.updated", product).json()["notification_ids"] == []
    cheaper = {**product, "price": "17.99", "sale_price": "17.99", "on_sale": True}
    answer = shops.woo("product.updated", cheaper)
    assert len(answer.json()["notification_ids"]) == 1
    raw = shops.rows("SELECT payload FROM notifications")[0][0]
    sent = raw if isinstance(raw, dict) else json.loads(raw)
    assert (sent["old_price"], sent["new_price"], sent["currency"]) == ("21.99", "17.99", "EUR")
    assert sent["url"] == "https://woo.example/product/premium-quality-19/"
