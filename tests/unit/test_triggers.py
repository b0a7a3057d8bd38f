"""Payload models, dedupe keys and expiry per kind (schemas.payloads, services.notify)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outbound.domain.dedupe import dedupe_key
from outbound.domain.errors import ValidationError
from outbound.domain.values import Kind
from outbound.schemas.payloads import validate_payload
from outbound.services.send.notify import Expiry

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def test_price_drop_must_actually_drop() -> None:
    payload = {
        "sku": "S1",
        "title": "Kettle",
        "old_price": "20",
        "new_price": "25.0",
        "currency": "EUR",
        "url": "https://shop.example/k",
    }
    with pytest.raises(
        ValidationError, match=r"data\.new_price: '25' is not lower than old_price 20"
    ):
        validate_payload(Kind.PRICE_DROP, payload)


def test_prices_are_normalized_so_equal_amounts_dedupe_alike() -> None:
    base = {
        "sku": "S1",
        "title": "K",
        "old_price": "20.00",
        "currency": "EUR",
        "url": "https://shop.example/k",
    }
    a = validate_payload(Kind.PRICE_DROP, {**base, "new_price": "15.50"})
    b = validate_payload(Kind.PRICE_DROP, {**base, "new_price": 15.5})
    assert (
        dedupe_key(Kind.PRICE_DROP, 7, a)
        == dedupe_key(Kind.PRICE_DROP, 7, b)
        == "price_drop:7:S1:15.5"
    )


def test_shipping_dedupes_per_order_and_shipment() -> None:
    payload = validate_payload(
        Kind.SHIPPING,
        {
            "order_id": "A1",
            "carrier": "DHL",
            "tracking_no": "T1",
            "eta": "2026-11-28",
            "shipment_id": "S2",
        },
    )
    assert dedupe_key(Kind.SHIPPING, 3, payload) == "shipping:3:A1:S2"


def test_boolean_is_not_accepted_as_a_price_or_an_id() -> None:
    with pytest.raises(ValidationError) as err:
        validate_payload(
            Kind.SHIPPING,
            {
                "order_id": True,
                "carrier": "DHL",
                "tracking_no": "T1",
                "eta": "28/11/2026",
                "signature_required": "yes",
            },
        )
    text = str(err.value)
    assert "data.order_id: True must be a non-empty string" in text
    assert "data.eta: '28/11/2026' is not a date; expected YYYY-MM-DD" in text
    assert "data.signature_required: 'yes' must be true or false" in text


def test_renewal_expires_when_the_membership_day_ends_in_the_customer_zone() -> None:
    payload = {"expires_on": "2026-12-05"}
    expires = Expiry().expires_at(Kind.RENEWAL, payload, NOW, "Asia/Kolkata")
    assert expires == datetime(2026, 12, 5, 18, 30, tzinfo=UTC)  # 2026-12-06 00:00 IST


def test_price_drop_goes_stale_after_24_hours_by_default() -> None:
    assert Expiry().expires_at(Kind.PRICE_DROP, {}, NOW, None) == NOW + timedelta(hours=24)
