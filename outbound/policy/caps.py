"""Frequency caps: counter keys for the current window and whether a cap is used up.

Key format (the store loads one customer's counters by the ``c<customer_id>:`` prefix)::

    c<customer_id>:<rule name>:<channel or ->:<purpose or ->:<window id>

Window ids: ``2026-11-26`` (calendar day, customer-local), ``w2026-W48`` (ISO week,
customer-local, Monday start), ``d2026-11-26`` (one UTC day bucket of a rolling window).
The scope in the key is the *rule's* scope, so a cap without a channel counts every channel.

Legal caps are evaluated before operator caps and every applicable cap must pass, so an
operator cap can only tighten a legal one, never raise it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from outbound.domain.trace import Note, stamp
from outbound.domain.values import CapCheck, Channel, Purpose
from outbound.policy.model import CapRule
from outbound.policy.quiet_hours import first_instant_at

_UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class CapStatus:
    """One applicable cap: the reservation to make, its current use and when it frees up."""

    rule: CapRule
    check: CapCheck
    used: int
    #: when the cap allows a contact again; None if not exceeded (or never frees: limit < 1)
    frees_at: datetime | None

    @property
    def exceeded(self) -> bool:
        return self.used >= self.rule.limit


def applicable_caps(
    channel: Channel, purpose: Purpose, caps: Iterable[CapRule]
) -> tuple[CapRule, ...]:
    """The caps whose scope covers (channel, purpose), legal ones first (stable order)."""
    matching = [c for c in caps if c.channel in (None, channel) and c.purpose in (None, purpose)]
    return tuple(sorted(matching, key=lambda c: not c.legal))


def cap_key(customer_id: int, rule: CapRule, window_id: str) -> str:
    channel = rule.channel.value if rule.channel else "-"
    purpose = rule.purpose.value if rule.purpose else "-"
    return f"c{customer_id}:{rule.name}:{channel}:{purpose}:{window_id}"


def cap_check(customer_id: int, rule: CapRule, now: datetime, zone: ZoneInfo | None) -> CapCheck:
    """The counter key for ``now`` and the keys whose sum the limit applies to."""
    if rule.window == "rolling":
        today = now.astimezone(UTC).date()
        days = [today - timedelta(days=n) for n in range(rule.days, -1, -1)]  # oldest first
        keys = tuple(cap_key(customer_id, rule, f"d{d.isoformat()}") for d in days)
        return CapCheck(rule.name, keys[-1], rule.limit, keys)
    local = now.astimezone(zone or _UTC_ZONE).date()
    if rule.window == "week":
        year, week, _ = local.isocalendar()
        window_id = f"w{year}-W{week:02d}"
    else:
        window_id = local.isoformat()
    key = cap_key(customer_id, rule, window_id)
    return CapCheck(rule.name, key, rule.limit, (key,))


def evaluate_caps(
    customer_id: int,
    rules: Iterable[CapRule],
    counters: Mapping[str, int],
    now: datetime,
    zone: ZoneInfo | None,
) -> tuple[CapStatus, ...]:
    """Status of each rule (already filtered by ``applicable_caps``), in the given order."""
    statuses = []
    for rule in rules:
        check = cap_check(customer_id, rule, now, zone)
        counts = [max(counters.get(k, 0), 0) for k in check.window_keys]
        used = sum(counts)
        frees = _frees_at(rule, counts, now, zone) if used >= rule.limit else None
        statuses.append(CapStatus(rule, check, used, frees))
    return tuple(statuses)


def _frees_at(
    rule: CapRule, counts: list[int], now: datetime, zone: ZoneInfo | None
) -> datetime | None:
    if rule.limit < 1:
        return None
    if rule.window == "rolling":
        return _rolling_frees_at(rule.limit, counts, now)
    tz = zone or _UTC_ZONE
    local = now.astimezone(tz).date()
    ahead = 7 - local.weekday() if rule.window == "week" else 1
    return first_instant_at(local + timedelta(days=ahead), time(0), tz)


def _rolling_frees_at(limit: int, counts: list[int], now: datetime) -> datetime:
    """Start of the first UTC day whose window (the newest buckets) sums below the limit.

    Approximation: buckets are whole UTC days, so a contact counts until the end of its day
    plus ``days`` more days (never early, at most a day late).
    """
    today = now.astimezone(UTC).date()
    for ahead in range(1, len(counts) + 1):
        if sum(counts[ahead:]) < limit:
            return _utc_midnight(today + timedelta(days=ahead))
    return _utc_midnight(today + timedelta(days=len(counts)))


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def finding(status: CapStatus) -> Note:
    """``cap:ok`` / ``cap:reached`` with (name, legal, used, limit, window[, frees at]).

    Read as 'daily_sms (operator): 2 of 3 used in calendar day'; a rolling window is given as
    its number of days.
    """
    rule = status.rule
    window = rule.days if rule.window == "rolling" else rule.window
    values = (rule.name, rule.legal, status.used, rule.limit, window)
    if not status.exceeded:
        return Note("cap:ok", values)
    frees = stamp(status.frees_at) if status.frees_at else None
    return Note("cap:reached", (*values, frees))
