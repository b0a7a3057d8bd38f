"""The policy engine: one pure function from (notification, snapshot, rules) to a Decision.

It walks the channel ladder and, per channel, runs the rules in a fixed order — reachable,
not suppressed, consent, quiet hours, caps — recording every rule it evaluated in the trace so
``outbound why`` can replay and explain it. Principles:

* Reachability, suppression and consent are facts about the channel: a failing channel is
  skipped and the next one tried.
* Quiet hours are about the clock, not the channel: the first eligible channel is deferred to
  its next opening, never bumped to a less preferred channel.
* A cap on one channel moves on to the next channel; a cap on the whole purpose defers.
* Unknown or ambiguous time zones fail closed for SMS and voice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from outbound.domain.values import (
    CapCheck,
    Channel,
    Decision,
    Defer,
    Send,
    Suppress,
    SuppressCode,
    TraceStep,
)
from outbound.policy import caps as cap_rules
from outbound.policy.consent import consent_ok
from outbound.policy.model import Jurisdiction, NotificationView, Rules, Snapshot
from outbound.policy.preference import channel_ladder
from outbound.policy.quiet_hours import (
    NO_COMMON_WINDOW,
    NoCommonWindowError,
    candidate_zones,
    describe_local,
    describe_window,
    next_open,
)

#: Channels whose quiet hours fail closed when the customer's time zone is unknown. Push is
#: silent per the device's own settings, so an unknown zone does not block it.
FAIL_CLOSED_CHANNELS = frozenset({Channel.SMS, Channel.VOICE})

VerdictKind = Literal["send", "skip", "quiet", "channel_cap", "purpose_cap"]


@dataclass(frozen=True)
class _Verdict:
    kind: VerdictKind
    reason: str
    until: datetime | None = None
    caps: tuple[CapCheck, ...] = ()


@dataclass
class _Context:
    notification: NotificationView
    snapshot: Snapshot
    rules: Rules
    jurisdiction: Jurisdiction
    zones: tuple[ZoneInfo, ...]
    trace: list[TraceStep] = field(default_factory=list)

    def step(self, rule: str, channel: Channel | None, ok: bool, detail: str) -> None:
        self.trace.append(TraceStep(rule, channel, ok, detail))


def decide(notification: NotificationView, snapshot: Snapshot, rules: Rules) -> Decision:
    """Send now, defer until a time, or suppress — with the trace of every rule evaluated."""
    customer = snapshot.customer
    ctx = _Context(
        notification,
        snapshot,
        rules,
        rules.for_country(customer.country),
        candidate_zones(customer.timezone, customer.phone_e164, customer.country),
    )
    if not _check_expiry(ctx):
        return Suppress(SuppressCode.EXPIRED, "expired", tuple(ctx.trace))
    preference = notification.channels if notification.channels is not None else customer.preference
    ladder = channel_ladder(notification.kind, preference, snapshot.tried)
    _trace_ladder(ctx, ladder)
    skipped: list[str] = []
    waits: list[tuple[datetime, Channel, str]] = []
    for channel in ladder:
        verdict = _check_channel(ctx, channel)
        if verdict.kind == "send":
            return Send(channel, snapshot.now, verdict.caps, tuple(ctx.trace))
        if verdict.kind == "skip" or verdict.until is None:
            skipped.append(f"{channel.value}: {verdict.reason}")
            continue
        waits.append((verdict.until, channel, verdict.reason))
        if verdict.kind != "channel_cap":
            break  # the clock or a purpose-wide cap: a less preferred channel is no better
    return _conclude(ctx, ladder, waits, skipped)


def _check_expiry(ctx: _Context) -> bool:
    expires, now = ctx.notification.expires_at, ctx.snapshot.now
    if expires is None:
        ctx.step("expiry", None, True, "no expiry")
        return True
    ok = now < expires
    detail = f"expires at {expires.isoformat()}; now is {now.isoformat()}"
    ctx.step("expiry", None, ok, detail if ok else f"expired: {detail}")
    return ok


def _trace_ladder(ctx: _Context, ladder: tuple[Channel, ...]) -> None:
    customer, n = ctx.snapshot.customer, ctx.notification
    order = " > ".join(c.value for c in ladder) or "nothing"
    tried = ", ".join(sorted(c.value for c in ctx.snapshot.tried)) or "none"
    zones = ", ".join(z.key for z in ctx.zones[:3]) or "unknown"
    if len(ctx.zones) > 3:
        zones += f" (+{len(ctx.zones) - 3} more)"
    detail = (
        f"{n.kind.value} ({n.purpose.value}) under {ctx.jurisdiction.code} rules for country "
        f"{customer.country or 'unknown'}; time zones: {zones}; try {order}; already tried: {tried}"
    )
    ctx.step("ladder", None, bool(ladder), detail)


def _check_channel(ctx: _Context, channel: Channel) -> _Verdict:
    for rule, check in (
        ("reachable", _reachable),
        ("suppression", _not_suppressed),
        ("consent", _consented),
    ):
        ok, detail = check(ctx, channel)
        ctx.step(rule, channel, ok, detail)
        if not ok:
            return _Verdict("skip", detail)
    return _quiet_hours(ctx, channel) or _caps(ctx, channel)


def _reachable(ctx: _Context, channel: Channel) -> tuple[bool, str]:
    customer = ctx.snapshot.customer
    if channel is Channel.PUSH:
        if customer.has_push:
            return True, "push subscription on file"
        return False, "no push subscription"
    if customer.phone_e164:
        return True, f"phone number on file for {channel.value}"
    return False, f"no phone number for {channel.value}"


def _not_suppressed(ctx: _Context, channel: Channel) -> tuple[bool, str]:
    reason = ctx.snapshot.customer.suppressed
    if reason is None:
        return True, "not on the do-not-contact list"
    return False, f"on the do-not-contact list: {reason}"


def _consented(ctx: _Context, channel: Channel) -> tuple[bool, str]:
    return consent_ok(channel, ctx.notification.purpose, ctx.snapshot.consents, ctx.jurisdiction)


def _quiet_hours(ctx: _Context, channel: Channel) -> _Verdict | None:
    """None when the window is open (or there is none); a wait or a skip otherwise."""
    window, now = ctx.jurisdiction.windows.get(channel), ctx.snapshot.now
    if window is None:
        ctx.step("quiet_hours", channel, True, f"no quiet hours for {channel.value}")
        return None
    span = f"{channel.value} window {describe_window(window)} ({ctx.jurisdiction.code})"
    if not ctx.zones:
        if channel not in FAIL_CLOSED_CHANNELS:
            ctx.step("quiet_hours", channel, True, f"time zone unknown; {span} not enforced")
            return None
        ctx.step("quiet_hours", channel, False, f"time zone unknown; {span} fails closed")
        return _Verdict("skip", "time zone unknown")
    try:
        opening = next_open(now, ctx.zones, window)
    except NoCommonWindowError:
        detail = f"{NO_COMMON_WINDOW}: {describe_local(now, ctx.zones)}; {span}"
        ctx.step("quiet_hours", channel, False, detail)
        return _Verdict("skip", NO_COMMON_WINDOW)
    if opening is None:
        ctx.step("quiet_hours", channel, True, f"open: {describe_local(now, ctx.zones)}; {span}")
        return None
    detail = (
        f"closed: {describe_local(now, ctx.zones)}; {span}; opens at "
        f"{describe_local(opening, ctx.zones)} ({opening.isoformat()})"
    )
    ctx.step("quiet_hours", channel, False, detail)
    return _Verdict("quiet", f"quiet hours: {detail}", until=opening)


def _caps(ctx: _Context, channel: Channel) -> _Verdict:
    snap = ctx.snapshot
    rules = cap_rules.applicable_caps(
        channel,
        ctx.notification.purpose,
        (*ctx.jurisdiction.caps, *ctx.rules.operator_caps),
    )
    zone = ctx.zones[0] if ctx.zones else None
    statuses = cap_rules.evaluate_caps(snap.customer.id, rules, snap.counters, snap.now, zone)
    if not statuses:
        ctx.step("cap", channel, True, "no caps apply")
    for status in statuses:
        ctx.step("cap", channel, not status.exceeded, cap_rules.describe(status))
    exceeded = [s for s in statuses if s.exceeded]
    if not exceeded:
        return _Verdict("send", "every rule passed", caps=tuple(s.check for s in statuses))
    names = ", ".join(s.rule.name for s in exceeded)
    if any(s.frees_at is None for s in exceeded):
        return _Verdict("skip", f"cap {names} reached and never frees")
    until = max(s.frees_at for s in exceeded if s.frees_at is not None)
    kind: VerdictKind = (
        "purpose_cap" if any(s.rule.channel is None for s in exceeded) else ("channel_cap")
    )
    return _Verdict(kind, f"cap {names} reached until {until.isoformat()}", until=until)


def _conclude(
    ctx: _Context,
    ladder: tuple[Channel, ...],
    waits: list[tuple[datetime, Channel, str]],
    skipped: list[str],
) -> Decision:
    trace = tuple(ctx.trace)
    if waits:
        until, channel, reason = min(waits, key=lambda w: w[0])
        expires = ctx.notification.expires_at
        if expires is not None and until >= expires:
            return Suppress(
                SuppressCode.EXPIRES_FIRST,
                f"expires before the next allowed time ({until.isoformat()}; {reason})",
                trace,
            )
        return Defer(until, channel, reason, trace)
    if not ladder:
        return Suppress(
            SuppressCode.LADDER_EXHAUSTED,
            "no channel left to try: every allowed channel was already tried",
            trace,
        )
    return Suppress(
        SuppressCode.NO_CHANNEL, "no consented, reachable channel: " + "; ".join(skipped), trace
    )
