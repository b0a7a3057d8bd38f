"""Shopify's webhooks through a real server: signed as Shopify signs, payloads shaped as its
Admin REST webhook reference gives them (tests/integrations/payloads/)."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.api.test_group_commit import held
from tests.integrations.conftest import Shops, payload

BOB = "myshop:706405506930370084"


def _customer_and_order(shops: Shops) -> None:
    assert shops.shopify("customers/create", payload("shopify/customers_create")).status_code == 200
    assert shops.shopify("orders/create", payload("shopify/orders_create")).status_code == 200


def _fulfillment(fid: int, tracking: str) -> dict[str, Any]:
    f = copy.deepcopy(payload("shopify/fulfillments_create"))
    f["id"], f["tracking_number"], f["tracking_numbers"] = fid, tracking, [tracking]
    f["tracking_url"] = f"https://www.ups.com/track?tracknum={tracking}"
    return f


def _shipping_payloads(shops: Shops) -> list[dict[str, Any]]:
    rows = shops.rows("SELECT payload FROM notifications WHERE kind = 'shipping' ORDER BY id")
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def test_a_bad_or_missing_signature_is_401_and_writes_nothing(shops: Shops) -> None:
    before = shops.writes()
    body = payload("shopify/customers_create")
    wrong = shops.shopify("customers/create", body, secret="not-the-client-secret")
    missing = shops.shopify("customers/create", body, signature="")
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert "X-Shopify-Hmac-SHA256".lower() in wrong.json()["detail"].lower()
    assert shops.writes() == before


def test_a_repeated_webhook_id_is_answered_from_its_receipt_and_notifies_once(
    shops: Shops,
) -> None:
    _customer_and_order(shops)
    first = shops.shopify("fulfillments/create", _fulfillment(1, "1ZA"), webhook_id="wh-1")
    again = shops.shopify("fulfillments/create", _fulfillment(1, "1ZA"), webhook_id="wh-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert again.json()["notification_ids"] == first.json()["notification_ids"]
    assert len(first.json()["notification_ids"]) == 1
    assert shops.count("SELECT count(*) FROM notifications") == 1
    assert shops.count("SELECT count(*) FROM webhook_receipts WHERE webhook_id = 'wh-1'") == 1


def test_an_unknown_topic_is_200_and_recorded_as_ignored(shops: Shops) -> None:
    answer = shops.shopify("app/uninstalled", {"id": 548380009, "name": "Super Toys"})
    assert answer.status_code == 200
    assert answer.json()["ignored"] == ["app/uninstalled: not a topic outbound acts on"]
    assert shops.count("SELECT count(*) FROM webhook_receipts") == 1
    assert (
        shops.count("SELECT count(*) FROM audit_events WHERE action = 'integration.ignored'") == 1
    )
    assert shops.count("SELECT count(*) FROM customers") == 0


def test_a_split_order_sends_one_shipping_notification_per_parcel_and_fulfilled_adds_none(
    shops: Shops,
) -> None:
    _customer_and_order(shops)
    one = shops.shopify("fulfillments/create", _fulfillment(255858046, "1Z001"))
    two = shops.shopify("fulfillments/create", _fulfillment(255858047, "1Z002"))
    assert len(one.json()["notification_ids"]) == len(two.json()["notification_ids"]) == 1
    order = copy.deepcopy(payload("shopify/orders_create"))
    order["fulfillment_status"] = "fulfilled"
    order["fulfillments"] = [_fulfillment(255858046, "1Z001"), _fulfillment(255858047, "1Z002")]
    shops.shopify("orders/fulfilled", order)
    shops.shopify("fulfillments/update", _fulfillment(255858047, "1Z002"))
    sent = _shipping_payloads(shops)
    assert [(p["order_id"], p["shipment_id"], p["tracking_no"]) for p in sent] == [
        ("#9999", "255858046", "1Z001"),
        ("#9999", "255858047", "1Z002"),
    ]
    assert sent[0]["carrier"] == "UPS" and "eta" not in sent[0]
    assert sent[0]["tracking_url"] == "https://www.ups.com/track?tracknum=1Z001"


def test_a_fulfillment_of_an_order_never_seen_is_ignored_not_refused(shops: Shops) -> None:
    answer = shops.shopify("fulfillments/create", _fulfillment(7, "1Z7"))
    assert answer.status_code == 200
    assert answer.json()["ignored"] == [
        "order 820982911946154508: not seen before, its customer is unknown"
    ]
    assert shops.count("SELECT count(*) FROM notifications") == 0


def _product(price: str) -> dict[str, Any]:
    p = copy.deepcopy(payload("shopify/products_update"))
    p["variants"][0]["price"] = price
    return p


def _wishers(shops: Shops) -> None:
    for ext, wish in (("w1", ["IPOD2008PINK"]), ("w2", ["IPOD2008PINK", "X"]), ("w3", ["X"])):
        event = {"type": "customer.upserted", "data": {"external_id": ext, "wishlist": wish}}
        assert shops.server.post(event).status_code == 202


def test_the_first_sight_of_a_sku_only_records_its_price(shops: Shops) -> None:
    _wishers(shops)
    answer = shops.shopify("products/update", _product("199.00"))
    assert answer.status_code == 200 and answer.json()["notification_ids"] == []
    prices = shops.rows("SELECT sku, price FROM shop_prices ORDER BY sku")
    assert [tuple(r) for r in prices] == [("IPOD2008PINK", "199.00"), ("IPOD2008RED", "199.00")]


def test_the_same_or_a_higher_price_notifies_nobody(shops: Shops) -> None:
    _wishers(shops)
    shops.shopify("products/update", _product("199.00"))
    same = shops.shopify("products/update", _product("199.00"))
    higher = shops.shopify("products/update", _product("219.00"))
    assert same.json()["notification_ids"] == higher.json()["notification_ids"] == []
    assert shops.count("SELECT count(*) FROM notifications") == 0
    assert shops.rows("SELECT price FROM shop_prices WHERE sku = 'IPOD2008PINK'")[0][0] == "219.00"


def test_a_lower_price_fans_out_to_the_wishlists_of_that_sku(shops: Shops) -> None:
    _wishers(shops)
    shops.shopify("products/update", _product("199.00"))
    lower = shops.shopify("products/update", _product("149.00"))
    assert lower.status_code == 200 and len(lower.json()["notification_ids"]) == 2
    rows = shops.rows(
        "SELECT c.external_id, n.payload FROM notifications n JOIN customers c "
        "ON c.id = n.customer_id WHERE n.kind = 'price_drop' ORDER BY c.external_id"
    )
    assert [r[0] for r in rows] == ["w1", "w2"]
    drop = rows[0][1] if isinstance(rows[0][1], dict) else json.loads(rows[0][1])
    assert drop == {
        "sku": "IPOD2008PINK",
        "title": "IPod Nano - 8GB – Pink",
        "old_price": "199",  # stored plain, as every price.dropped payload is
        "new_price": "149",
        "currency": "USD",
        "url": "https://shop.example/products/ipod-nano",
    }


def test_sms_marketing_consent_is_granted_with_its_evidence_and_unsubscribed_revokes(
    shops: Shops,
) -> None:
    shops.shopify("customers/create", payload("shopify/customers_create"))
    update = copy.deepcopy(payload("shopify/customers_create"))
    shops.shopify("customers/update", update)  # the same state again: no new entry
    update["sms_marketing_consent"] = {
        "state": "unsubscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2026-11-27T08:00:00-05:00",
        "consent_collected_from": "OTHER",
    }
    shops.shopify("customers/update", update)
    ledger = shops.rows(
        "SELECT channel, purpose, action, source, evidence FROM consents ORDER BY id"
    )
    assert [tuple(r[:4]) for r in ledger] == [
        ("sms", "marketing", "grant", "shopify:myshop"),
        ("sms", "marketing", "revoke", "shopify:myshop"),
    ]
    assert ledger[0][4] == (
        "shopify sms_marketing_consent state=subscribed opt_in_level=single_opt_in "
        "collected_from=SHOPIFY updated_at=2026-11-26T09:00:00-05:00"
    )
    assert "state=unsubscribed" in ledger[1][4] and "collected_from=OTHER" in ledger[1][4]
    customer = shops.rows("SELECT phone_e164, country, state, timezone FROM customers")
    assert tuple(customer[0]) == ("+14155550123", "US", "CA", None)  # zone: from phone and state


def test_customers_redact_erases_the_customer_and_audits_it(shops: Shops) -> None:
    _customer_and_order(shops)
    answer = shops.shopify("customers/redact", payload("shopify/customers_redact"))
    assert answer.status_code == 200
    assert shops.count("SELECT count(*) FROM customers WHERE external_id = :e", e=BOB) == 0
    assert shops.count("SELECT count(*) FROM customers WHERE erased_at IS NOT NULL") == 1
    assert shops.count("SELECT count(*) FROM shop_orders") == 0
    actions = {r[0] for r in shops.rows("SELECT action FROM audit_events")}
    assert {"customer.erased", "integration.customer_redacted"} <= actions


def test_shop_redact_erases_that_shops_customers_orders_and_prices_only(shops: Shops) -> None:
    _customer_and_order(shops)
    shops.shopify("products/update", _product("199.00"))
    _wishers(shops)  # customers of the standard source: not the shop's
    answer = shops.shopify("shop/redact", payload("shopify/shop_redact"))
    assert answer.status_code == 200
    assert shops.count("SELECT count(*) FROM customers WHERE erased_at IS NOT NULL") == 1
    assert shops.count("SELECT count(*) FROM customers WHERE external_id IN ('w1','w2','w3')") == 3
    assert shops.count("SELECT count(*) FROM shop_orders") == 0
    assert shops.count("SELECT count(*) FROM shop_prices") == 0
    audited = shops.rows("SELECT data FROM audit_events WHERE action = 'integration.shop_redacted'")
    assert json.loads(audited[0][0]) == {"customers": 1, "shop_orders": 1, "shop_prices": 2}


def test_a_data_request_writes_the_customers_evidence_export_and_audits_it(shops: Shops) -> None:
    _customer_and_order(shops)
    answer = shops.shopify("customers/data_request", payload("shopify/customers_data_request"))
    assert answer.status_code == 200
    export = shops.exports / "myshop-data-request-9999.jsonl"
    manifest = shops.exports / "myshop-data-request-9999.jsonl.manifest.json"
    records = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert {r["record"] for r in records} >= {"consent", "audit"}
    assert json.loads(manifest.read_text(encoding="utf-8"))["selection"]["customer"] == BOB
    assert (
        shops.count("SELECT count(*) FROM audit_events WHERE action = 'integration.data_request'")
        == 1
    )


def test_an_unknown_source_or_another_kinds_route_is_404_and_writes_nothing(shops: Shops) -> None:
    before = shops.writes()
    body = b'{"id": 1}'
    for path in ("shopify/nosuch", "woocommerce/myshop", "shopify/woo"):
        answer = httpx.post(
            f"{shops.server.url}/v1/integrations/{path}",
            content=body,
            headers={"Content-Type": "application/json", "X-Shopify-Topic": "customers/create"},
            timeout=30,
        )
        assert answer.status_code == 404, path
        assert "--kind" in answer.json()["detail"]
    assert shops.writes() == before


def test_fulfillments_queued_together_are_answered_as_they_would_be_one_by_one(
    shops: Shops,
) -> None:
    _customer_and_order(shops)
    unknown = {**_fulfillment(99, "1Z99"), "order_id": 1}
    posts: list[tuple[dict[str, Any], str]] = [
        (_fulfillment(100 + i, f"1ZG{i}"), f"wh-g{i}") for i in range(6)
    ]
    posts += [(_fulfillment(100, "1ZG0"), "wh-g0"), (unknown, "wh-unknown")]
    with held(shops.server, len(posts)) as commits, ThreadPoolExecutor(len(posts)) as pool:
        answers = list(
            pool.map(lambda p: shops.shopify("fulfillments/create", p[0], webhook_id=p[1]), posts)
        )
    assert [a.status_code for a in answers] == [200] * len(posts)
    assert len(commits.seen) <= 2  # one group (then whatever queued behind it)
    ids = [a.json()["notification_ids"] for a in answers]
    assert all(len(i) == 1 for i in ids[:6]) and len({i[0] for i in ids[:6]}) == 6
    assert ids[6] == ids[0] and [a.json()["duplicate"] for a in (answers[0], answers[6])] in (
        [False, True],
        [True, False],
    )
    assert answers[7].json()["ignored"] == ["order 1: not seen before, its customer is unknown"]
    assert shops.count("SELECT count(*) FROM notifications") == 6
    assert shops.count("SELECT count(*) FROM webhook_receipts") == 2 + 7
