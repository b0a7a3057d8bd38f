"""The demo's Twilio step picks its number by the hour: every one must pass the import check."""

from __future__ import annotations

from datetime import UTC, datetime

import phonenumbers
import pytest

from outbound.demo.twilio import DAYTIME, _daytime


@pytest.mark.parametrize(("zone", "phone", "locale"), DAYTIME)
def test_every_daytime_number_of_the_twilio_step_is_a_valid_number(
    zone: str, phone: str, locale: str
) -> None:
    assert phonenumbers.is_valid_number(phonenumbers.parse(phone, None)), (zone, phone)


@pytest.mark.parametrize("hour", range(24))
def test_at_every_hour_the_twilio_step_picks_a_valid_number(hour: int) -> None:
    _, phone, _ = _daytime(datetime(2026, 12, 6, hour, 30, tzinfo=UTC))
    assert phonenumbers.is_valid_number(phonenumbers.parse(phone, None)), (hour, phone)
