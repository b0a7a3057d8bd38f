"""US state calling windows and public holidays. Expected instants are worked out by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from outbound.domain.errors import ConfigError, ValidationError
from outbound.domain.values import Channel, ConsentAction, Defer, Kind, Purpose, Send
from outbound.policy import decide
from outbound.policy.loader import load_rules
from outbound.policy.model import (
    ConsentRecord,
    CustomerView,
    HolidayRule,
    NotificationView,
    Rules,
    Snapshot,
)
from outbound.policy.states import state_of_number
from outbound.schemas.customers import validate_record

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")  # Florida's east coast (305) is on Eastern time too
VOICE, SMS = Channel.VOICE, Channel.SMS
MIAMI = "+13055550123"
MakeCustomer = Callable[..., CustomerView]
WRITTEN = ConsentRecord(
    VOICE, Purpose.MARKETING, ConsentAction.GRANT, datetime(2026, 1, 5, tzinfo=UTC), written=True
)
PRICE_DROP = NotificationView(Kind.PRICE_DROP, Purpose.MARKETING, None)
SHIPPING = NotificationView(Kind.SHIPPING, Purpose.TRANSACTIONAL, None)


def _decide(rules: Rules, customer: CustomerView, now: datetime, note: Any = PRICE_DROP) -> Any:
    return decide(note, Snapshot(customer, (WRITTEN,), {}, now), rules)


def _with_holidays(rules: Rules) -> Rules:
    us = rules.jurisdictions["US"]
    rule = HolidayRule(frozenset({VOICE}), frozenset({Purpose.MARKETING}), "operator policy")
    us = dataclasses.replace(us, holidays=rule)
    return dataclasses.replace(rules, jurisdictions={**rules.jurisdictions, "US": us})


def test_area_codes_name_their_state_and_toll_free_names_none() -> None:
    assert [state_of_number(n) for n in (MIAMI, "+14055550123", "+14105550123")] == [
        "FL",
        "OK",
        "MD",
    ]
    assert state_of_number("+12125550123") == "NY"
    assert state_of_number("+18005550123") is None
    assert state_of_number("+4915112345678") is None


def test_florida_marketing_call_at_2030_waits_for_0800_though_the_federal_window_is_open(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    florida = make_customer(phone_e164=MIAMI, preference=(VOICE,))
    now = datetime(2026, 6, 10, 20, 30, tzinfo=NY)  # Wednesday, EDT (UTC-4)
    decision = _decide(rules, florida, now)
    # Florida: 08:00-20:00 for solicitations; 08:00 EDT on Thursday 11 June = 12:00 UTC
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    assert any(s.note.code == "state_window:applies" for s in decision.trace)
    # the same call to New York is inside the federal 08:00-21:00 window
    new_york = make_customer(preference=(VOICE,))
    assert isinstance(_decide(rules, new_york, now), Send)


def test_florida_shipping_notice_at_2030_keeps_the_federal_window(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    florida = make_customer(phone_e164=MIAMI, preference=(SMS,))
    now = datetime(2026, 6, 10, 20, 30, tzinfo=NY)
    decision = _decide(rules, florida, now, SHIPPING)  # a solicitation law: marketing only
    assert isinstance(decision, Send)


def test_profile_state_wins_over_the_area_code(rules: Rules, make_customer: MakeCustomer) -> None:
    now = datetime(2026, 6, 10, 20, 30, tzinfo=NY)
    moved_to_florida = make_customer(preference=(VOICE,), state="FL")  # a 212 number
    assert isinstance(_decide(rules, moved_to_florida, now), Defer)
    moved_away = make_customer(phone_e164=MIAMI, preference=(VOICE,), state="NY")
    assert isinstance(_decide(rules, moved_away, now), Send)


def test_connecticut_marketing_waits_until_0900_on_the_morning_clocks_spring_forward(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    hartford = make_customer(phone_e164="+18605550123", preference=(VOICE,))
    # Saturday 7 March 2026, 21:00 EST (UTC-5). Clocks go 02:00 EST -> 03:00 EDT on Sunday
    # 8 March; Connecticut opens at 09:00 EDT (UTC-4) = 13:00 UTC, not 14:00.
    decision = _decide(rules, hartford, datetime(2026, 3, 7, 21, 0, tzinfo=NY))
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)


def test_marketing_call_on_thanksgiving_is_deferred_to_friday_0800(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    new_york = make_customer(preference=(VOICE,))
    now = datetime(2026, 11, 26, 11, 0, tzinfo=NY)  # Thanksgiving, Thursday 26 Nov, EST
    decision = _decide(_with_holidays(rules), new_york, now)
    # Friday 27 November 08:00 EST (UTC-5) = 13:00 UTC
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    assert "Thanksgiving" in decision.reason
    # without the rule the call goes now
    assert isinstance(_decide(rules, new_york, now), Send)


def test_florida_keeps_the_friday_after_thanksgiving_so_its_call_waits_until_saturday(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    florida = make_customer(phone_e164=MIAMI, preference=(VOICE,))
    now = datetime(2026, 11, 26, 11, 0, tzinfo=NY)
    decision = _decide(_with_holidays(rules), florida, now)
    # Florida's state holidays include the Friday after Thanksgiving: Saturday 28 November
    # 08:00 EST = 13:00 UTC
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


def test_a_call_deferred_by_the_night_into_a_holiday_waits_for_the_day_after(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    new_york = make_customer(preference=(VOICE,))
    # Wednesday 25 Nov 22:00 EST: the window opens Thursday 08:00, which is Thanksgiving
    decision = _decide(_with_holidays(rules), new_york, datetime(2026, 11, 25, 22, 0, tzinfo=NY))
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


def test_holiday_rule_leaves_transactional_notices_alone(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    new_york = make_customer(preference=(VOICE,))
    now = datetime(2026, 11, 26, 11, 0, tzinfo=NY)
    assert isinstance(_decide(_with_holidays(rules), new_york, now, SHIPPING), Send)


def _policies(**us: Any) -> dict[str, Any]:
    return {"default": {}, "US": us}


def test_state_rule_without_a_source_is_refused_with_the_fix() -> None:
    spec = {"windows": {"voice": {"start": "08:00", "end": "20:00"}}}
    with pytest.raises(ConfigError, match=r"\[US.states.FL\]: source is missing; name the statute"):
        load_rules(_policies(states={"FL": spec}))
    with pytest.raises(ConfigError, match="'Fl' is not a two-letter upper-case code"):
        load_rules(_policies(states={"Fl": {**spec, "source": "x"}}))


def test_holiday_rule_names_a_bad_channel() -> None:
    bad = {"channels": ["fax"], "source": "operator"}
    with pytest.raises(ConfigError, match=r"\[US.holidays\]: channel 'fax' is unknown"):
        load_rules(_policies(holidays=bad))


def test_profile_state_must_be_a_us_state_of_a_us_customer() -> None:
    with pytest.raises(ValidationError, match="state: 'XX' is not a US state code"):
        validate_record({"external_id": "C1", "phone": "+12125550123", "state": "XX"})
    with pytest.raises(ValidationError, match="is a US state but the country is DE"):
        validate_record({"external_id": "C1", "phone": "+4915112345678", "state": "FL"})
    assert validate_record({"external_id": "C1", "phone": MIAMI, "state": "fl"}).state == "FL"


def test_german_customer_on_christmas_day_waits_past_boxing_day_under_the_eu_rule(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    eu = rules.jurisdictions["EU"]
    rule = HolidayRule(frozenset({VOICE}), frozenset({Purpose.MARKETING}), "operator policy")
    eu = dataclasses.replace(eu, holidays=rule)
    with_eu = dataclasses.replace(rules, jurisdictions={**rules.jurisdictions, "EU": eu})
    berlin = make_customer(
        country="DE", timezone="Europe/Berlin", phone_e164="+4915112345678", preference=(VOICE,)
    )
    now = datetime(2026, 12, 25, 11, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    decision = _decide(with_eu, berlin, now)
    # 25 and 26 December are German public holidays; Sunday 27 December is not one. The EU
    # voice window opens 08:00 CET (UTC+1) = 07:00 UTC.
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 12, 27, 7, 0, tzinfo=UTC)
