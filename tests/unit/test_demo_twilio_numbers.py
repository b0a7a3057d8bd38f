"""The demo's Twilio step picks a number where it is daytime now: every one of them must pass
the import's own phone check, or the demo fails during that zone's daytime hours only (the UK
drama range 07700 900xxx did, from 10:00 to 15:00 UTC, once phonenumbers marked it invalid)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outbound.demo.twilio import DAYTIME, _daytime
from outbound.schemas.customers import validate_record


@pytest.mark.parametrize(("zone", "phone", "locale"), DAYTIME)
def test_each_daytime_number_of_the_demos_twilio_step_is_a_valid_customer_phone(
    zone: str, phone: str, locale: str
) -> None:
    record = validate_record(
        {"external_id": "t", "phone": phone, "locale": locale, "timezone": zone}
    )
    assert record.phone_e164 == phone


def test_at_10_30_utc_the_twilio_step_calls_london() -> None:
    zone, phone, _ = _daytime(datetime(2026, 12, 6, 10, 30, tzinfo=UTC))
    assert (zone, phone) == ("Europe/London", "+447400123142")
