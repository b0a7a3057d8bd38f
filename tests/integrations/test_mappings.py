"""Each mapping is a pure function from the platform's documented payload to our actions."""

from __future__ import annotations

import base64
import copy
from decimal import Decimal

from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.services.integrations import shopify, signatures, woocommerce
from outbound.services.integrations.model import (
    ConsentChange,
    CustomerSeen,
    DataRequest,
    Ignored,
    OrderSeen,
    Parcel,
    PriceSeen,
    Redact,
    Shipped,
)
from tests.integrations.conftest import payload

SHOP = "https://shop.example"


def test_hmac_signature_is_base64_of_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    digest = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    expected = base64.b64encode(digest).decode()
    body = b"what do ya want for nothing?"
    assert signatures.sign("Jefe", body) == expected
    assert signatures.verify(expected, body, ["old-secret", "Jefe"])
    assert not signatures.verify(expected, body + b" ", ["Jefe"])
    assert not signatures.verify(None, body, ["Jefe"]) and not signatures.verify("", body, ["Jefe"])


def test_shopify_customer_maps_name_phone_country_state_and_sms_consent() -> None:
    seen = shopify.customer("myshop", payload("shopify/customers_create"))
    assert seen.data == {
        "external_id": "myshop:706405506930370084",
        "name": "Bob Biller",
        "phone": "+14155550123",
        "country": "US",
        "state": "CA",
    }
    assert seen.consents == (
        ConsentChange(
            Channel.SMS,
            Purpose.MARKETING,
            ConsentAction.GRANT,
            "shopify sms_marketing_consent state=subscribed opt_in_level=single_opt_in "
            "collected_from=SHOPIFY updated_at=2026-11-26T09:00:00-05:00",
        ),
    )


def test_shopify_consent_states_other_than_subscribed_and_unsubscribed_change_nothing() -> None:
    for state, action in (
        ("unsubscribed", ConsentAction.REVOKE),
        ("pending", None),
        ("not_subscribed", None),
    ):
        changes = shopify.sms_consent({"state": state, "opt_in_level": "confirmed_opt_in"})
        assert [c.action for c in changes] == ([action] if action else [])
    assert shopify.sms_consent(None) == ()


def test_shopify_customer_with_an_unusable_phone_keeps_the_rest_and_says_so() -> None:
    c = copy.deepcopy(payload("shopify/customers_create"))
    c["phone"] = "12"
    c["default_address"].update(phone=None, country_code="DE", province_code="BE")
    seen = shopify.customer("myshop", c)
    assert seen.dropped == ("phone",)
    assert seen.data == {
        "external_id": "myshop:706405506930370084",
        "name": "Bob Biller",
        "country": "DE",
    }


def test_shopify_order_remembers_its_customer_and_name() -> None:
    actions = shopify.order("myshop", payload("shopify/orders_create"))
    assert isinstance(actions[0], CustomerSeen) and actions[0].only_if_new
    assert actions[1] == OrderSeen("820982911946154508", "myshop:706405506930370084", "#9999")
    guest = {**payload("shopify/orders_create"), "customer": None}
    assert isinstance(shopify.order("myshop", guest)[0], Ignored)


def test_shopify_fulfillment_is_one_parcel_with_tracking_url() -> None:
    (shipped,) = shopify.fulfillment("myshop", payload("shopify/fulfillments_create"))
    assert shipped == Shipped(
        "820982911946154508",
        (
            Parcel(
                "123456",
                "UPS",
                "1Z2345",
                "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1Z2345",
            ),
        ),
    )


def test_shopify_fulfillment_without_tracking_or_cancelled_sends_nothing() -> None:
    f = payload("shopify/fulfillments_create")
    untracked = {**f, "tracking_number": None, "tracking_numbers": []}
    cancelled = {**f, "status": "cancelled"}
    assert isinstance(shopify.fulfillment("myshop", untracked)[0], Ignored)
    assert isinstance(shopify.fulfillment("myshop", cancelled)[0], Ignored)


def test_shopify_orders_fulfilled_gives_every_tracked_fulfillment() -> None:
    f = payload("shopify/fulfillments_create")
    order = {
        **payload("shopify/orders_create"),
        "fulfillments": [
            f,
            {**f, "id": 2, "tracking_number": "1Z9"},
            {**f, "id": 3, "tracking_number": None, "tracking_numbers": []},
        ],
    }
    shipped = shopify.fulfilled("myshop", order)[-1]
    assert isinstance(shipped, Shipped)
    assert [p.shipment_id for p in shipped.parcels] == ["123456", "2"]
    assert (shipped.order_name, shipped.customer) == ("#9999", "myshop:706405506930370084")


def test_shopify_product_update_gives_each_variant_price_by_sku() -> None:
    p = copy.deepcopy(payload("shopify/products_update"))
    p["variants"][1]["sku"] = ""
    p["variants"][0]["price"] = "149.50"
    assert shopify.prices("myshop", p, SHOP) == [
        PriceSeen(
            "IPOD2008PINK",
            Decimal("149.50"),
            "IPod Nano - 8GB – Pink",
            "https://shop.example/products/ipod-nano",
        )
    ]


def test_shopify_privacy_topics_map_to_redactions_and_a_data_request() -> None:
    redact = shopify.map_topic(
        "customers/redact", "myshop", payload("shopify/customers_redact"), SHOP
    )
    shop = shopify.map_topic("shop/redact", "myshop", payload("shopify/shop_redact"), SHOP)
    request = shopify.map_topic(
        "customers/data_request", "myshop", payload("shopify/customers_data_request"), SHOP
    )
    assert redact.actions == (Redact("myshop:706405506930370084", ("820982911946154508",)),)
    assert shop.actions == (Redact(None),)
    assert request.actions == (DataRequest("myshop:706405506930370084", "9999"),)


def test_an_unknown_shopify_topic_is_ignored() -> None:
    mapped = shopify.map_topic("carts/create", "myshop", {"id": 1}, SHOP)
    assert mapped.actions == (Ignored("carts/create", "not a topic outbound acts on"),)


def test_woocommerce_customer_phone_is_read_in_the_billing_country() -> None:
    seen = woocommerce.customer("woo", payload("woocommerce/customer_created"))
    assert seen.data == {
        "external_id": "woo:25",
        "name": "John Doe",
        "phone": "+49301234567",
        "country": "DE",
    }


def test_woocommerce_completed_order_gives_one_parcel_per_tracking_item() -> None:
    order = copy.deepcopy(payload("woocommerce/order_completed"))
    items = order["meta_data"][0]["value"]
    items.append(
        {
            "tracking_provider": "",
            "custom_tracking_provider": "Hermes",
            "custom_tracking_link": "https://hermes.example/t/H123",
            "tracking_number": "H123",
            "date_shipped": "1764115200",
            "tracking_id": "b2",
        }
    )
    shipped = woocommerce.order("woo", order)[-1]
    assert shipped == Shipped(
        "727",
        (
            Parcel("a6d3b4f0c1e2d3f4a5b6c7d8e9f0a1b2", "DHL", "00340434161094015902"),
            Parcel("b2", "Hermes", "H123", "https://hermes.example/t/H123"),
        ),
        "#727",
        "woo:25",
    )


def test_woocommerce_guest_order_gets_a_customer_of_its_own_and_processing_sends_nothing() -> None:
    order = {**payload("woocommerce/order_completed"), "customer_id": 0, "status": "processing"}
    actions = woocommerce.order("woo", order)
    assert [type(a) for a in actions] == [CustomerSeen, OrderSeen]
    assert actions[1] == OrderSeen("727", "woo:guest-727", "#727")


def test_woocommerce_product_price_by_sku_and_a_parent_without_price_is_ignored() -> None:
    (seen,) = woocommerce.product("woo", payload("woocommerce/product_updated"))
    assert seen == PriceSeen(
        "PREMIUM-Q-19",
        Decimal("21.99"),
        "Premium Quality",
        "https://woo.example/product/premium-quality-19/",
    )
    parent = {**payload("woocommerce/product_updated"), "type": "variable", "price": ""}
    assert isinstance(woocommerce.product("woo", parent)[0], Ignored)
