"""Quiet hours. Every expected instant is worked out by hand in the comments."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from outbound.policy.model import Window
from outbound.policy.quiet_hours import NoCommonWindowError, candidate_zones, next_open

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
US_CALLS = Window(time(8), time(21))


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_voice_call_deferred_until_0800_local_when_triggered_at_2230() -> None:
    now = datetime(2026, 6, 10, 22, 30, tzinfo=NY)  # EDT, UTC-4
    # 08:00 EDT on 11 June = 12:00 UTC
    assert next_open(now, (NY,), US_CALLS) == utc(2026, 6, 11, 12, 0)


def test_open_window_returns_none() -> None:
    assert next_open(datetime(2026, 6, 10, 14, 0, tzinfo=NY), (NY,), US_CALLS) is None


def test_window_end_is_already_closed() -> None:
    assert next_open(datetime(2026, 6, 10, 20, 59, tzinfo=NY), (NY,), US_CALLS) is None
    at_end = datetime(2026, 6, 10, 21, 0, tzinfo=NY)
    assert next_open(at_end, (NY,), US_CALLS) == utc(2026, 6, 11, 12, 0)


def test_before_start_opens_the_same_morning() -> None:
    now = datetime(2026, 6, 10, 7, 59, tzinfo=NY)
    assert next_open(now, (NY,), US_CALLS) == utc(2026, 6, 10, 12, 0)


def test_spring_forward_night_opens_at_0800_edt() -> None:
    # 2026-03-07 22:30 EST (UTC-5) = 2026-03-08 03:30 UTC; clocks jump 02:00 -> 03:00 that
    # night, so 08:00 on the 8th is EDT (UTC-4) = 12:00 UTC, not 13:00.
    now = utc(2026, 3, 8, 3, 30)
    assert next_open(now, (NY,), US_CALLS) == utc(2026, 3, 8, 12, 0)


def test_fall_back_night_opens_at_0800_est() -> None:
    # 2026-10-31 23:00 EDT = 2026-11-01 03:00 UTC; clocks fall back 02:00 -> 01:00, so
    # 08:00 on the 1st is EST (UTC-5) = 13:00 UTC.
    now = utc(2026, 11, 1, 3, 0)
    assert next_open(now, (NY,), US_CALLS) == utc(2026, 11, 1, 13, 0)


def test_fall_back_evening_closes_at_2100_est() -> None:
    # 21:00 EST on 1 Nov = 02:00 UTC on 2 Nov; one minute earlier is still open.
    assert next_open(utc(2026, 11, 2, 1, 59), (NY,), US_CALLS) is None
    # next morning 08:00 EST = 13:00 UTC
    assert next_open(utc(2026, 11, 2, 2, 0), (NY,), US_CALLS) == utc(2026, 11, 2, 13, 0)


def test_window_start_inside_the_spring_forward_gap_opens_at_the_jump() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: at 07:00 UTC the clock jumps from
    # 01:59:59 EST to 03:00 EDT, the first instant the local time is past 02:30.
    window = Window(time(2, 30), time(5, 0))
    now = utc(2026, 3, 8, 6, 0)  # 01:00 EST
    assert next_open(now, (NY,), window) == utc(2026, 3, 8, 7, 0)


def test_window_start_inside_the_fall_back_overlap_opens_at_the_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01; the first time is EDT (UTC-4) = 05:30 UTC.
    window = Window(time(1, 30), time(5, 0))
    now = utc(2026, 11, 1, 5, 0)  # 01:00 EDT
    assert next_open(now, (NY,), window) == utc(2026, 11, 1, 5, 30)


def test_half_hour_offset_in_kolkata() -> None:
    window = Window(time(9), time(21))
    # 03:00 UTC = 08:30 IST (UTC+5:30); 09:00 IST = 03:30 UTC
    assert next_open(utc(2026, 6, 10, 3, 0), (KOLKATA,), window) == utc(2026, 6, 10, 3, 30)
    # 15:30 UTC = 21:00 IST, closed; next 09:00 IST = 03:30 UTC next day
    assert next_open(utc(2026, 6, 10, 15, 30), (KOLKATA,), window) == utc(2026, 6, 11, 3, 30)


def test_unknown_profile_zone_is_derived_from_a_new_york_number() -> None:
    assert candidate_zones(None, "+12125551234", "US") == (NY,)


def test_valid_profile_zone_wins_over_the_phone() -> None:
    assert candidate_zones("Europe/Berlin", "+12125551234", "US") == (ZoneInfo("Europe/Berlin"),)


def test_invalid_profile_zone_falls_through_to_the_phone() -> None:
    assert candidate_zones("Mars/Olympus_Mons", "+12125551234", None) == (NY,)


def test_country_gives_every_zone_when_the_phone_is_unknown() -> None:
    assert candidate_zones(None, None, "IN") == (KOLKATA,)
    us = candidate_zones(None, "+15555551234", "US")  # 555 is not a real area code
    keys = {z.key for z in us}
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= keys
    assert us[0] == NY  # zone.tab order


def test_nothing_known_gives_no_zones() -> None:
    assert candidate_zones(None, None, None) == ()
    assert candidate_zones("nonsense", "not a number", None) == ()


def test_ambiguous_number_waits_until_open_in_every_zone() -> None:
    zones = candidate_zones(None, "+12085550123", "US")  # Idaho: Boise and Los Angeles
    assert {z.key for z in zones} == {"America/Boise", "America/Los_Angeles"}
    now = utc(2026, 6, 15, 14, 30)  # 08:30 MDT in Boise (open), 07:30 PDT in LA (closed)
    assert next_open(now, (ZoneInfo("America/Boise"),), US_CALLS) is None
    # 08:00 PDT (UTC-7) = 15:00 UTC
    assert next_open(now, zones, US_CALLS) == utc(2026, 6, 15, 15, 0)


def test_ambiguous_number_closes_when_the_first_zone_closes() -> None:
    zones = (ZoneInfo("America/Boise"), ZoneInfo("America/Los_Angeles"))
    # 03:00 UTC = 21:00 MDT (closed in Boise) and 20:00 PDT (open in LA);
    # both open next at 08:00 PDT = 15:00 UTC.
    assert next_open(utc(2026, 6, 16, 3, 0), zones, US_CALLS) == utc(2026, 6, 16, 15, 0)


def test_zones_twelve_hours_apart_share_no_twelve_hour_window() -> None:
    # UTC-6 and UTC+6 (no DST): 08:00-20:00 in one is 20:00-08:00 in the other.
    zones = (ZoneInfo("Etc/GMT+6"), ZoneInfo("Etc/GMT-6"))
    with pytest.raises(NoCommonWindowError, match="no common contact window"):
        next_open(utc(2026, 6, 10, 12, 0), zones, Window(time(8), time(20)))


def test_next_open_refuses_an_empty_zone_list() -> None:
    with pytest.raises(ValueError, match="fails closed"):
        next_open(utc(2026, 6, 10, 12, 0), (), US_CALLS)
