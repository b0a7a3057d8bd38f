"""When a campaign run would finish, per channel, at the configured provider throughputs.

A channel is one queue served at ``rate`` units per second (SMS parts for SMS, requests for
push, call setups for voice). Messages arrive when their decision lets them go: now, or when the
local window opens for a deferred one. A group of ``n`` units arriving at ``a`` starts at
``max(a, end of the previous group)`` and takes ``n / rate`` seconds; the last group's end is the
finish time. Delivery receipts, retries and the ladder's next rungs are not in the forecast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from outbound.policy.quiet_hours import candidate_zones


@dataclass(frozen=True)
class ChannelForecast:
    channel: str
    now: int  # messages that go at once
    deferred: tuple[tuple[str, int], ...]  # (when, on the customers' clocks; messages)
    units: int  # what the rate counts (SMS parts, push requests, calls)
    rate: float | None  # units per second; None = no configured rate (channel "any")
    now_done: datetime | None  # when the messages that go at once are through
    finish: datetime | None  # when the last one is through; None without a rate

    def describe(self, today: datetime) -> str:
        """``sms 12,400 now at 10/s: done 14:20:00 UTC; 3,100 deferred to 09:00 local
        tomorrow; all done 2026-11-27 14:05:10 UTC``."""
        rate = f"{self.rate:g}/s" if self.rate else "no configured rate"
        parts = [f"{self.channel} {self.now:,} now at {rate}"]
        if self.now_done is not None:
            parts[0] += f": done {_clock(self.now_done, today)}"
        parts += [f"{n:,} deferred to {when}" for when, n in self.deferred]
        if self.deferred and self.finish is not None:
            parts.append(f"all done {_clock(self.finish, today)}")
        return "; ".join(parts)


def _clock(at: datetime, today: datetime) -> str:
    same_day = at.astimezone(UTC).date() == today.astimezone(UTC).date()
    return f"{at:%H:%M:%S} UTC" if same_day else f"{at:%Y-%m-%d %H:%M:%S} UTC"


def finish_time(arrivals: Mapping[datetime, int], rate: float, now: datetime) -> datetime | None:
    """The end of the last group of a queue served at ``rate`` units per second."""
    end: datetime | None = None
    for at in sorted(arrivals):
        start = max(at, now, end or now)
        end = start + timedelta(seconds=arrivals[at] / rate)
    return end


def local_label(until: datetime, zone: ZoneInfo | None, now: datetime) -> str:
    """``09:00 local tomorrow``: a deferral's end as the customer's clock shows it."""
    if zone is None:
        return f"{until:%Y-%m-%d %H:%M} UTC"
    local, today = until.astimezone(zone), now.astimezone(zone).date()
    days = (local.date() - today).days
    day = {0: "today", 1: "tomorrow"}.get(days, f"{local:%Y-%m-%d}")
    return f"{local:%H:%M} local {day}"


def zone_of(timezone: str | None, phone: str | None, country: str | None) -> ZoneInfo | None:
    zones = candidate_zones(timezone, phone, country)
    return zones[0] if zones else None


def forecast(
    arrivals: Mapping[str, Mapping[datetime, int]],
    send_now: Mapping[str, int],
    waiting: Mapping[str, Mapping[str, int]],
    rates: Mapping[str, float],
    now: datetime,
) -> list[ChannelForecast]:
    """One forecast per channel that has anything to send."""
    out = []
    for channel in sorted(set(arrivals) | set(send_now) | set(waiting)):
        rate = rates.get(channel)
        units = dict(arrivals.get(channel, {}))
        at_once = {at: n for at, n in units.items() if at <= now}
        deferred = tuple(sorted(waiting.get(channel, {}).items()))
        out.append(
            ChannelForecast(
                channel=channel,
                now=send_now.get(channel, 0),
                deferred=deferred,
                units=sum(units.values()),
                rate=rate,
                now_done=finish_time(at_once, rate, now) if rate and at_once else None,
                finish=finish_time(units, rate, now) if rate and units else None,
            )
        )
    return out
