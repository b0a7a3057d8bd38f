"""The shared input models: campaign definitions, and how problems are named and shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticError

from outbound.api.events import EVENT, event_problems
from outbound.domain.errors import ValidationError
from outbound.domain.values import Kind
from outbound.schemas.base import parse
from outbound.schemas.campaigns import parse_campaign
from outbound.schemas.customers import CustomerIn, validate_record


def test_shipping_has_no_campaign_and_the_zone_is_still_checked() -> None:
    with pytest.raises(ValidationError) as err:
        parse_campaign(Kind.SHIPPING, "x", "Moon/Base", {}, {})
    assert [str(p) for p in err.value.problems] == [
        "kind: 'shipping' is event-driven; use renewal or price_drop",
        "timezone: 'Moon/Base' is not an IANA time zone; e.g. Europe/Berlin",
    ]
    assert str(err.value).startswith("campaign 'x': ")


def test_renewal_campaign_needs_a_window_and_a_renew_url_with_an_example() -> None:
    with pytest.raises(ValidationError) as err:
        parse_campaign(Kind.RENEWAL, "r", "UTC", {"expires_within_days": 400, "colour": 1}, {})
    assert [str(p) for p in err.value.problems] == [
        "segment.expires_within_days: 400 must be at most 366",
        "segment.colour: 1 is not a renewal segment field; known: expires_within_days, tiers, "
        "countries, wishlist_sku",
        "params.renew_url: None is required for renewal params, "
        "e.g. https://shop.example/renew?c={external_id}",
    ]


def test_campaign_segment_and_params_are_stored_normalized_and_only_as_given() -> None:
    segment, params = parse_campaign(
        Kind.PRICE_DROP,
        "drop",
        "UTC",
        {"wishlist_sku": "S1", "countries": ["de"]},
        {
            "title": "K",
            "old_price": 20.0,
            "new_price": "15.50",
            "currency": "EUR",
            "url": "https://s.example/k",
        },
    )
    assert segment == {"wishlist_sku": "S1", "countries": ["DE"]}
    assert (params["old_price"], params["new_price"]) == ("20", "15.5")


def test_a_push_auth_secret_is_never_shown_in_an_error() -> None:
    secret = "not-sixteen-bytes-but-secret"
    sub = {
        "kind": "webpush",
        "endpoint": "https://push.example/a",
        "keys": {"p256dh": "A" * 87, "auth": secret},
    }
    with pytest.raises(ValidationError) as err:
        validate_record({"external_id": "C1", "push_subscriptions": [sub]})
    assert secret not in str(err.value)
    assert (
        "push_subscriptions[0].keys.auth: 'no…******' is not a base64url 16-byte auth secret"
        in str(err.value)
    )


def test_a_phone_number_in_an_unknown_field_is_masked_too() -> None:
    with pytest.raises(ValidationError) as err:
        parse(CustomerIn, {"external_id": "C1", "mobile": "+4915112345678"}, prefix="data")
    assert "+4915112345678" not in str(err.value) and "data.mobile: '+49*******5678'" in str(
        err.value
    )


def test_an_event_of_unknown_type_names_the_type_field() -> None:
    with pytest.raises(PydanticError) as err:
        EVENT.validate_python({"type": "parcel.sent", "data": {}})
    (problem,) = event_problems(err.value)
    assert problem.field == "type" and problem.value == "parcel.sent"
    assert problem.hint.startswith("is not one of 'shipping.dispatched'")


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("purpose", 6.9e64, "must be 'transactional', 'service' or 'marketing'"),
        ("channel", [1], "must be 'push', 'sms' or 'voice'"),
    ],
)
def test_a_wrong_type_in_a_union_field_names_the_field_once(
    field: str, value: object, hint: str
) -> None:
    """Found by Schemathesis: union-member labels (``str-enum[Purpose]``) in pydantic's
    locations made the 422 body itself fail (a 500)."""
    data = {
        "customer": "C1",
        "action": "grant",
        "channel": "all",
        "purpose": "all",
        "source": "form",
        field: value,
    }
    with pytest.raises(PydanticError) as caught:
        EVENT.validate_python({"type": "consent.changed", "data": data})
    (problem,) = event_problems(caught.value)
    assert problem.field == f"data.{field}" and problem.hint.startswith(hint)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/r?c={phone}",  # would ask for a number the URL never gets
        "https://shop.example/r?c={0}",
        "https://shop.example/r?c={external_id!r}",
        "https://shop.example/r?c={external_id:>99}",
        "https://shop.example/r?c={external_id.__class__}",
        "https://shop.example/r?c={",
        "https://shop.example/r?c={{external_id}}",
    ],
)
def test_a_renewal_url_with_any_placeholder_but_external_id_is_refused_naming_it(
    url: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_campaign(Kind.RENEWAL, "r", "UTC", {"expires_within_days": 7}, {"renew_url": url})
    (problem,) = caught.value.problems
    assert problem.field == "params.renew_url" and "only {external_id} is" in problem.hint


def test_a_renewal_url_with_external_id_and_encoded_braces_is_kept() -> None:
    url = "https://shop.example/r?c={external_id}&x=%7B%7D"
    _segment, params = parse_campaign(
        Kind.RENEWAL, "r", "UTC", {"expires_within_days": 7}, {"renew_url": url}
    )
    assert params == {"renew_url": url}


@pytest.mark.parametrize("name", ["gold\x1b[2J", "a\u202eb", "tab\there"])
def test_a_campaign_name_with_control_characters_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_campaign(
            Kind.RENEWAL,
            name,
            "UTC",
            {"expires_within_days": 7},
            {"renew_url": "https://s.example/r"},
        )
    assert [p.field for p in caught.value.problems] == ["name"]
