"""Input an attacker or a careless client sends, over real HTTP: numbers JSON cannot carry back,
unbounded values, messages too long to send, phone numbers echoed in schema errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from outbound.api import events
from outbound.cli.root import cli
from outbound.domain.errors import ValidationError
from outbound.domain.values import Kind
from outbound.schemas.campaigns import CAMPAIGNS
from outbound.schemas.customers import CustomerRow
from outbound.services.send.receipts import PushReceipt
from outbound.services.templates import sizes
from outbound.services.templates.sizes import SizeLimits
from outbound.store.tables import notifications, webhook_receipts
from tests.api.conftest import Server
from tests.conftest import CONFIG_DIR
from tests.integration.helpers import NY, add_customer, count

PHONE = "+12125550187"
PRICE_DROP = {
    "sku": "SKU-1",
    "title": "Kettle",
    "old_price": "30",
    "new_price": "20",
    "currency": "EUR",
    "url": "https://shop.example/k",
}
SHIPPING = {
    "customer": "C1",
    "order_id": "A1",
    "carrier": "DHL",
    "tracking_no": "T1",
    "eta": "2026-11-28",
}


def _raw(server: Server, body: bytes, path: str = "/v1/events") -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=body, headers=server.signed(body), timeout=30)


def _with(data: dict[str, Any], field: str, token: str, kind: str = "price.dropped") -> bytes:
    """A JSON body whose ``field`` holds ``token`` verbatim (json.dumps cannot write them)."""
    marker = "__TOKEN__"
    text = json.dumps({"type": kind, "data": {**data, field: marker}})
    return text.replace(f'"{marker}"', token).encode()


NUMBERS = {
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "1e999": "1e999",
    "400-digit-float": "1" + "0" * 400 + ".5",
    "4000-digit-int": "9" * 4000,
}


@pytest.mark.parametrize("token", list(NUMBERS.values()), ids=list(NUMBERS))
@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("price.dropped", PRICE_DROP, "old_price"),  # a number field
        ("price.dropped", PRICE_DROP, "title"),  # a text field that takes numbers as text
        ("shipping.dispatched", SHIPPING, "carrier"),
    ],
    ids=["price", "title", "carrier"],
)
def test_non_finite_and_huge_numbers_are_a_422_naming_the_field(
    server: Server, token: str, kind: str, data: dict[str, Any], field: str
) -> None:
    add_customer(server.app, "C1", NY, wishlist="SKU-1")
    response = _raw(server, _with(data, field, token, kind))
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]  # the body is strict JSON: json() parses it
    assert problem["loc"] == ["body", "data", field]
    assert len(problem["input"]) <= 24
    assert count(server.app, notifications) == 0 and count(server.app, webhook_receipts) == 0


def test_non_finite_numbers_in_a_push_receipt_are_a_422_naming_the_field(server: Server) -> None:
    body = b'{"delivery_id": NaN, "status": "opened"}'
    response = _raw(server, body, "/v1/receipts")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "delivery_id"]


def test_text_that_spells_nan_is_still_text(server: Server) -> None:
    add_customer(server.app, "C1", NY, wishlist="SKU-1")
    event = {"type": "price.dropped", "data": {**PRICE_DROP, "title": "NaN Infinity 1e999"}}
    response = server.post(event)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "price", ["1e999999", "1000000000.01", "0.00001", "1" + "0" * 20, "-1e999999"]
)
def test_prices_outside_their_stated_bounds_are_refused(server: Server, price: str) -> None:
    add_customer(server.app, "C1", NY, wishlist="SKU-1")
    response = server.post({"type": "price.dropped", "data": {**PRICE_DROP, "old_price": price}})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "data", "old_price"]
    assert count(server.app, notifications) == 0


def _unbounded(schema: Any, where: str = "") -> list[str]:
    """Paths of string schemas without maxLength (enums, constants and dates are bounded)."""
    found: list[str] = []
    if isinstance(schema, dict):
        bounded = {"maxLength", "enum", "const"} & schema.keys() or schema.get("format") in (
            "date",
            "date-time",
        )
        if schema.get("type") == "string" and not bounded:
            found.append(where)
        for key, value in schema.items():
            found += _unbounded(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            found += _unbounded(value, f"{where}[{i}]")
    return found


def test_every_text_field_of_every_input_model_states_a_length_bound() -> None:
    schemas = {
        "event": events.EVENT.json_schema(),
        "receipt": PushReceipt.model_json_schema(),
        "customer row": CustomerRow.model_json_schema(),
        **{f"{k.value} campaign": m.model_json_schema() for k, m in CAMPAIGNS.items()},
    }
    unbounded = {name: _unbounded(s) for name, s in schemas.items()}
    # a price is not text: its string form is bounded by max_digits (14) and le (1e9)
    prices = [p for paths in unbounded.values() for p in paths if "_price" in p]
    assert {name: [p for p in paths if "_price" not in p] for name, paths in unbounded.items()} == {
        name: [] for name in schemas
    }
    assert prices  # the price fields were seen, and exempted for the reason above


def test_an_sms_over_the_configured_parts_is_refused_at_validation_and_never_sent(
    server: Server,
) -> None:
    add_customer(server.app, "C1", NY, wishlist="SKU-1")
    long_url = "https://shop.example/k?" + "a" * 1500  # 1,500+ characters: many SMS parts
    event = {"type": "price.dropped", "data": {**PRICE_DROP, "url": long_url}}
    response = server.post(event)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "data", "url"]
    assert "SMS" in problem["msg"] and "the limit is 6" in problem["msg"]
    assert len(problem["input"]) <= 101
    assert count(server.app, notifications) == 0
    just_fits = {**PRICE_DROP, "url": "https://shop.example/k?" + "a" * 200}
    assert server.post({"type": "price.dropped", "data": just_fits}).status_code == 202


def test_shipping_event_over_the_parts_limit_is_refused_in_a_group_too(
    server: Server, make_app: Any
) -> None:
    add_customer(server.app, "C1", NY)
    long = {**SHIPPING, "carrier": "碳" * 200}  # UCS-2: about 4 parts in every language
    fits = server.post({"type": "shipping.dispatched", "data": long})
    assert fits.status_code == 202, fits.text  # within the default 6 parts
    from outbound.domain.values import Kind
    from outbound.services.templates.sizes import SizeLimits, check_sizes

    payload = {k: v for k, v in long.items() if k != "customer"}
    with pytest.raises(ValidationError, match=r"data.carrier: .* makes the SMS \d parts"):
        check_sizes(Kind.SHIPPING, payload, SizeLimits(sms_parts=2))


def test_send_from_the_cli_refuses_an_sms_over_the_parts_limit(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    payload = {**PRICE_DROP, "url": "https://shop.example/k?" + "a" * 1500}
    base = ["--db", server.app.settings.database_url, "--config-dir", str(CONFIG_DIR)]
    result = CliRunner(mix_stderr=False).invoke(
        cli, [*base, "send", "price_drop", "--customer", "C1", "--data", json.dumps(payload)]
    )
    assert isinstance(result.exception, ValidationError), result.output
    assert "makes the SMS" in str(result.exception)
    assert count(server.app, notifications) == 0


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([PHONE], ["body", "data"]),
        ({"external_id": "X", "phone": 12125550187}, ["body", "data", "phone"]),
        ({"external_id": "X", "phone": [PHONE]}, ["body", "data", "phone"]),
        ({"external_id": "X", "preference": [PHONE, "sms"]}, ["body", "data", "preference"]),
        ({"external_id": "X", "membership": {"tier": [PHONE]}}, None),
    ],
    ids=["data-list", "phone-as-number", "phone-in-list", "list-item", "nested-object"],
)
def test_schema_errors_never_echo_a_phone_number(
    server: Server, data: Any, where: list[str] | None
) -> None:
    response = server.post({"type": "customer.upserted", "data": data})
    assert response.status_code == 422, response.text
    assert "2125550" not in response.text and "+1******0187" in response.text
    if where is not None:
        assert response.json()["detail"][0]["loc"] == where


def test_a_path_parameter_error_never_echoes_a_phone_number(server: Server) -> None:
    response = server.read(f"/v1/notifications/tel:{PHONE}")
    assert response.status_code == 422, response.text
    assert "2125550" not in response.text
    assert response.json()["detail"][0]["input"] == "tel:+1******0187"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    carrier=st.text(alphabet='Dé碳😀"\\\n{', max_size=200),
    parts=st.integers(1, 6),
    push=st.integers(300, 4096),
)
def test_the_quick_size_bound_never_lets_a_too_long_message_through(
    carrier: str, parts: int, push: int
) -> None:
    payload = {**SHIPPING, "carrier": carrier or "x"}
    del payload["customer"]
    limits = SizeLimits(sms_parts=parts, webpush_bytes=push, fcm_bytes=push)
    if sizes._surely_fits(Kind.SHIPPING, payload, limits):
        assert sizes.sms_parts(Kind.SHIPPING, payload, limits.brand)[0] <= parts
        assert sizes.push_bytes(Kind.SHIPPING, payload, limits)[0] <= 0
