"""Public holidays per jurisdiction, from the ``holidays`` library, as a policy rule.

A holiday rule stops the channels and purposes it names on the customer's public holidays
(national, plus the state's or province's when the profile or the number gives one) and
defers to the next allowed day: the first instant that is inside the contact window in every
candidate time zone and is not a holiday in any of them (fail closed, like quiet hours).
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from outbound.domain.values import Channel, Purpose
from outbound.policy.model import HolidayRule, Window
from outbound.policy.quiet_hours import HORIZON, NoCommonWindowError, first_instant_at, next_open


@functools.cache
def _calendar(country: str, subdiv: str | None, year: int) -> dict[date, str]:
    """One year's holidays as a plain dict (read-only, so threads may share it)."""
    known = holidays.list_supported_countries().get(country, [])
    sub = subdiv if subdiv in known else None
    try:
        found = holidays.country_holidays(country, subdiv=sub, years=year)
    except NotImplementedError:
        return {}
    return {day: str(name) for day, name in found.items()}


def holiday_name(country: str | None, subdiv: str | None, day: date) -> str | None:
    if not country:
        return None
    return _calendar(country.upper(), subdiv, day.year).get(day)


def applies(rule: HolidayRule | None, channel: Channel, purpose: Purpose) -> bool:
    if rule is None or channel not in rule.channels:
        return False
    return rule.purposes is None or purpose in rule.purposes


def _blocking(
    at: datetime, zones: tuple[ZoneInfo, ...], country: str, subdiv: str | None
) -> tuple[ZoneInfo, date, str] | None:
    for zone in zones:
        day = at.astimezone(zone).date()
        name = holiday_name(country, subdiv, day)
        if name is not None:
            return zone, day, name
    return None


def holiday_wait(
    start: datetime,
    zones: tuple[ZoneInfo, ...],
    window: Window | None,
    country: str,
    subdiv: str | None,
) -> tuple[date, str, datetime | None] | None:
    """None when ``start`` is not a holiday anywhere the customer may be; else the holiday's
    day and name and the next allowed instant (None when none comes within ``HORIZON``)."""
    first = _blocking(start, zones, country, subdiv)
    if first is None:
        return None
    at, limit = start, start + HORIZON
    blocking: tuple[ZoneInfo, date, str] | None = first
    while blocking is not None:
        zone, day, _ = blocking
        at = first_instant_at(day + timedelta(days=1), time(0), zone)
        if window is not None:
            try:
                at = next_open(at, zones, window) or at
            except NoCommonWindowError:
                return first[1], first[2], None
        if at > limit:
            return first[1], first[2], None
        blocking = _blocking(at, zones, country, subdiv)
    return first[1], first[2], at
