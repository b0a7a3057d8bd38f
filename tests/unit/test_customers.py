"""Customer record validation: every problem of a row at once, with field, value and hint."""

from __future__ import annotations

import pytest

from outbound.domain.errors import ValidationError
from outbound.domain.values import Channel, Purpose
from outbound.schemas.customers import validate_record


def test_valid_row_derives_country_from_the_number() -> None:
    record = validate_record(
        {
            "external_id": "C1",
            "phone": "+4915112345678",
            "preference": "push>sms",
            "opt_in": "sms:marketing;voice:marketing:written",
            "wishlist": "A;B;A",
        }
    )
    assert record.country == "DE" and record.timezone is None
    assert record.preference == (Channel.PUSH, Channel.SMS)
    assert record.wishlist == ("A", "B")
    assert [(o.channel, o.purpose, o.written) for o in record.opt_ins] == [
        (Channel.SMS, Purpose.MARKETING, False),
        (Channel.VOICE, Purpose.MARKETING, True),
    ]


def test_non_e164_spelling_is_rejected_with_the_correct_form() -> None:
    with pytest.raises(
        ValidationError,
        match=r"phone: '\+49\*{7}5678' is not in E\.164 form; write it as \+49\*{7}5678 \(a plus sign",
    ):
        validate_record({"external_id": "C1", "phone": "+49 151 12345678"})


def test_country_that_contradicts_the_number_is_named() -> None:
    with pytest.raises(
        ValidationError, match="country: 'FR' disagrees with the phone number's country DE"
    ):
        validate_record({"external_id": "C1", "phone": "+4915112345678", "country": "FR"})


def test_all_problems_of_a_row_are_reported_together() -> None:
    with pytest.raises(ValidationError) as err:
        validate_record(
            {
                "external_id": "",
                "timezone": "Europe/Atlantis",
                "locale": "english",
                "preference": "sms>sms",
                "opt_in": "sms",
            }
        )
    fields = [p.field for p in err.value.problems]
    assert fields == ["external_id", "timezone", "locale", "preference", "opt_in"]
