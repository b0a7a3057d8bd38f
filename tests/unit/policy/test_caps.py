"""Frequency caps: keys, windows and when a used-up cap frees. Values worked out by hand."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from outbound.domain.values import Channel, Purpose
from outbound.policy.caps import applicable_caps, cap_check, evaluate_caps
from outbound.policy.model import CapRule

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
DAILY_SMS = CapRule("daily_sms", 3, "day", channel=Channel.SMS)
WEEKLY_MARKETING = CapRule("marketing_week", 2, "week", purpose=Purpose.MARKETING)
TCPA = CapRule("voice_info_30d", 3, "rolling", days=30, channel=Channel.VOICE, legal=True)
# Thursday 2026-11-26 22:30 EST (UTC-5) is already Friday 27th 03:30 in UTC.
LATE_THURSDAY = datetime(2026, 11, 26, 22, 30, tzinfo=NY)


def test_calendar_day_key_uses_the_customers_local_date() -> None:
    check = cap_check(42, DAILY_SMS, LATE_THURSDAY, NY)
    assert check.key == "c42:daily_sms:sms:-:2026-11-26"
    assert check.window_keys == (check.key,)
    assert check.limit == 3


def test_calendar_day_without_a_zone_uses_utc() -> None:
    assert cap_check(42, DAILY_SMS, LATE_THURSDAY, None).key == "c42:daily_sms:sms:-:2026-11-27"


def test_daily_cap_used_up_frees_at_local_midnight() -> None:
    counters = {"c42:daily_sms:sms:-:2026-11-26": 3}
    (status,) = evaluate_caps(42, (DAILY_SMS,), counters, LATE_THURSDAY, NY)
    assert status.exceeded and status.used == 3
    # midnight EST on 27 Nov = 05:00 UTC
    assert status.frees_at == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def test_daily_cap_below_limit_is_not_exceeded() -> None:
    counters = {"c42:daily_sms:sms:-:2026-11-26": 2, "c42:daily_sms:sms:-:2026-11-25": 9}
    (status,) = evaluate_caps(42, (DAILY_SMS,), counters, LATE_THURSDAY, NY)
    assert not status.exceeded and status.frees_at is None


def test_iso_week_key_and_next_monday() -> None:
    # 2026-01-01 is a Thursday, so ISO week 1 starts Mon 2025-12-29; 26 Nov is day 330 of
    # 2026, 332 days after that Monday: week 332 // 7 + 1 = 48.
    check = cap_check(42, WEEKLY_MARKETING, LATE_THURSDAY, NY)
    assert check.key == "c42:marketing_week:-:marketing:w2026-W48"
    (status,) = evaluate_caps(42, (WEEKLY_MARKETING,), {check.key: 2}, LATE_THURSDAY, NY)
    # Monday 2026-11-30 00:00 EST = 05:00 UTC
    assert status.frees_at == datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def test_new_years_day_2027_is_in_iso_week_53_of_2026() -> None:
    # 2026 starts on a Thursday, so it has 53 ISO weeks; Fri 2027-01-01 belongs to the last.
    new_year = datetime(2027, 1, 1, 12, 0, tzinfo=NY)
    assert cap_check(7, WEEKLY_MARKETING, new_year, NY).key.endswith(":w2026-W53")


def test_rolling_window_sums_thirty_one_utc_day_buckets() -> None:
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    check = cap_check(42, TCPA, now, NY)
    assert check.key == "c42:voice_info_30d:voice:-:d2026-11-26"
    assert len(check.window_keys) == 31
    # 30 days before 26 Nov is 27 Oct
    assert check.window_keys[0] == "c42:voice_info_30d:voice:-:d2026-10-27"
    assert check.key in check.window_keys


def test_rolling_cap_frees_when_the_oldest_call_leaves_the_window() -> None:
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    prefix = "c42:voice_info_30d:voice:-:"
    counters = {prefix + "d2026-11-01": 1, prefix + "d2026-11-10": 1, prefix + "d2026-11-20": 1}
    (status,) = evaluate_caps(42, (TCPA,), counters, now, NY)
    assert status.exceeded and status.used == 3
    # the window of day D covers D-30..D; 1 Nov drops out when D-30 = 2 Nov, i.e. D = 2 Dec
    assert status.frees_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def test_rolling_cap_ignores_buckets_outside_the_window() -> None:
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    prefix = "c42:voice_info_30d:voice:-:"
    counters = {prefix + "d2026-10-26": 5, prefix + "d2026-10-27": 1, prefix + "d2026-11-20": 1}
    (status,) = evaluate_caps(42, (TCPA,), counters, now, NY)
    assert status.used == 2 and not status.exceeded


def test_keys_start_with_the_customer_prefix() -> None:
    for rule in (DAILY_SMS, WEEKLY_MARKETING, TCPA):
        check = cap_check(1234, rule, LATE_THURSDAY, NY)
        assert all(k.startswith("c1234:") for k in (check.key, *check.window_keys))


def test_legal_caps_come_before_operator_caps() -> None:
    operator = CapRule("voice_monthly", 10, "rolling", days=30, channel=Channel.VOICE)
    assert applicable_caps(Channel.VOICE, Purpose.SERVICE, (operator, TCPA)) == (TCPA, operator)


def test_operator_cap_cannot_raise_the_legal_limit() -> None:
    operator = CapRule("voice_monthly", 10, "rolling", days=30, channel=Channel.VOICE)
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    counters = {
        "c42:voice_info_30d:voice:-:d2026-11-20": 3,
        "c42:voice_monthly:voice:-:d2026-11-20": 3,
    }
    rules = applicable_caps(Channel.VOICE, Purpose.SERVICE, (operator, TCPA))
    legal, op = evaluate_caps(42, rules, counters, now, NY)
    assert legal.rule is TCPA and legal.exceeded
    assert op.rule is operator and not op.exceeded


def test_caps_of_another_scope_do_not_apply() -> None:
    caps = (DAILY_SMS, WEEKLY_MARKETING, TCPA)
    assert applicable_caps(Channel.PUSH, Purpose.TRANSACTIONAL, caps) == ()
    assert applicable_caps(Channel.PUSH, Purpose.MARKETING, caps) == (WEEKLY_MARKETING,)
