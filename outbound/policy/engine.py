"""The policy engine: one pure function from (notification, snapshot, rules) to a Decision.

It walks the channel ladder and, per channel, runs the rules in a fixed order — reachable,
not suppressed, consent, quiet hours, caps — recording every rule it evaluated in the trace — as
a code and values (``outbound.domain.trace``), put into words only when ``outbound why`` or a
report reads it. Principles:

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
from typing import Any, Literal
from zoneinfo import ZoneInfo

from outbound.domain.trace import Facts, Note, stamp
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
from outbound.policy.attempts import limit_notes
from outbound.policy.consent import consent_note
from outbound.policy.model import Jurisdiction, NotificationView, Rules, Snapshot, Window
from outbound.policy.preference import channel_ladder
from outbound.policy.public_holidays import applies as holiday_applies
from outbound.policy.public_holidays import holiday_wait
from outbound.policy.quiet_hours import (
    NoCommonWindowError,
    candidate_zones,
    next_open,
    window_span,
)
from outbound.policy.states import customer_state

#: Channels whose quiet hours fail closed when the customer's time zone is unknown. Push is
#: silent per the device's own settings, so an unknown zone does not block it.
FAIL_CLOSED_CHANNELS = frozenset({Channel.SMS, Channel.VOICE})

VerdictKind = Literal["send", "skip", "quiet", "channel_cap", "purpose_cap"]


@dataclass(frozen=True)
class _Verdict:
    kind: VerdictKind
    why: Note
    until: datetime | None = None
    caps: tuple[CapCheck, ...] = ()


_PASSED = Note("send")  # a send has no reason; never put into words


@dataclass
class _Context:
    notification: NotificationView
    snapshot: Snapshot
    rules: Rules
    jurisdiction: Jurisdiction
    zones: tuple[ZoneInfo, ...]
    facts: Facts
    trace: list[TraceStep] = field(default_factory=list)

    def step(self, channel: Channel | None, note: Note) -> Note:
        self.trace.append(TraceStep(channel, note, self.facts))
        return note


def decide(notification: NotificationView, snapshot: Snapshot, rules: Rules) -> Decision:
    """Send now, defer until a time, or suppress — with the trace of every rule evaluated."""
    customer = snapshot.customer
    jurisdiction = rules.for_country(customer.country)
    zones = candidate_zones(customer.timezone, customer.phone_e164, customer.country)
    facts = Facts.of(snapshot.now, jurisdiction.code, tuple(z.key for z in zones))
    ctx = _Context(notification, snapshot, rules, jurisdiction, zones, facts)
    if not _check_expiry(ctx):
        return Suppress(SuppressCode.EXPIRED, Note("suppress:expired"), tuple(ctx.trace))
    preference = notification.channels if notification.channels is not None else customer.preference
    ladder = channel_ladder(notification.kind, preference, snapshot.tried)
    _trace_ladder(ctx, ladder)
    skipped: list[tuple[Any, ...]] = []  # (channel, code, *values) of why each was skipped
    waits: list[tuple[datetime, Channel, Note]] = []
    for channel in ladder:
        verdict = _check_channel(ctx, channel)
        if verdict.kind == "send":
            return Send(channel, snapshot.now, verdict.caps, tuple(ctx.trace))
        if verdict.kind == "skip" or verdict.until is None:
            skipped.append((channel.value, verdict.why.code, *verdict.why.args))
            continue
        waits.append((verdict.until, channel, verdict.why))
        if verdict.kind != "channel_cap":
            break  # the clock or a purpose-wide cap: a less preferred channel is no better
    return _conclude(ctx, ladder, waits, skipped)


def _check_expiry(ctx: _Context) -> bool:
    expires, now = ctx.notification.expires_at, ctx.snapshot.now
    if expires is None:
        ctx.step(None, Note("expiry:none"))
        return True
    ok = now < expires
    ctx.step(None, Note("expiry:ok" if ok else "expiry:passed", (stamp(expires),)))
    return ok


def _trace_ladder(ctx: _Context, ladder: tuple[Channel, ...]) -> None:
    n = ctx.notification
    values = (
        n.kind.value,
        n.purpose.value,
        ctx.snapshot.customer.country,
        tuple(c.value for c in ladder),
        tuple(sorted(c.value for c in ctx.snapshot.tried)),
    )
    ctx.step(None, Note("ladder:try" if ladder else "ladder:empty", values))


def _check_channel(ctx: _Context, channel: Channel) -> _Verdict:
    for check in (_reachable, _not_suppressed, _consented):
        note = ctx.step(channel, check(ctx, channel))
        if not note.ok:
            return _Verdict("skip", note)
    if channel is Channel.VOICE:
        reached = _attempts(ctx)
        if reached is not None:
            return _Verdict("skip", reached)
    return _quiet_hours(ctx, channel) or _caps(ctx, channel)


def _attempts(ctx: _Context) -> Note | None:
    """Legal limits on calls about this subject; the first one reached skips voice."""
    snap = ctx.snapshot
    notes = limit_notes(
        ctx.jurisdiction.call_attempts,
        ctx.notification.purpose,
        snap.customer.phone_e164,
        snap.voice_attempts,
        snap.now,
    )
    for note in notes:
        ctx.step(Channel.VOICE, note)
    return next((n for n in notes if not n.ok), None)


def _reachable(ctx: _Context, channel: Channel) -> Note:
    customer = ctx.snapshot.customer
    if channel is Channel.PUSH:
        return Note("reachable:push" if customer.has_push else "reachable:no_push")
    return Note("reachable:phone" if customer.phone_e164 else "reachable:no_phone")


def _not_suppressed(ctx: _Context, channel: Channel) -> Note:
    reason = ctx.snapshot.customer.suppressed
    if reason is None:
        return Note("suppression:clear")
    return Note("suppression:listed", (reason,))


def _consented(ctx: _Context, channel: Channel) -> Note:
    return consent_note(channel, ctx.notification.purpose, ctx.snapshot.consents, ctx.jurisdiction)


def _quiet_hours(ctx: _Context, channel: Channel) -> _Verdict | None:
    """None when the window is open (or there is none); a wait or a skip otherwise."""
    window, now = _window(ctx, channel), ctx.snapshot.now
    if window is None:
        ctx.step(channel, Note("quiet_hours:none"))
        return _holiday(ctx, channel, None, now)
    span = window_span(window)
    if not ctx.zones:
        if channel not in FAIL_CLOSED_CHANNELS:
            ctx.step(channel, Note("quiet_hours:unenforced", (span,)))
            return None
        ctx.step(channel, Note("quiet_hours:fails_closed", (span,)))
        return _Verdict("skip", Note("skip:time_zone_unknown"))
    try:
        opening = next_open(now, ctx.zones, window)
    except NoCommonWindowError:
        ctx.step(channel, Note("quiet_hours:no_common", (span,)))
        return _Verdict("skip", Note("skip:no_common_window"))
    if opening is None:
        ctx.step(channel, Note("quiet_hours:open", (span,)))
        return _holiday(ctx, channel, window, now)
    values = (span, stamp(opening))
    ctx.step(channel, Note("quiet_hours:closed", values))
    later = _holiday(ctx, channel, window, opening)
    return later or _Verdict("quiet", Note("wait:quiet_hours", values), until=opening)


def _state(ctx: _Context) -> str | None:
    customer = ctx.snapshot.customer
    return customer_state(customer.state, customer.phone_e164)


def _window(ctx: _Context, channel: Channel) -> Window | None:
    """The jurisdiction's window, narrowed by the customer's state's rule when it covers the
    channel and purpose (e.g. Florida: 08:00-20:00 for telephone solicitations)."""
    base = ctx.jurisdiction.windows.get(channel)
    rule = ctx.jurisdiction.states.get(_state(ctx) or "") if ctx.jurisdiction.states else None
    purpose = ctx.notification.purpose
    if rule is None or channel not in rule.windows:
        return base
    if rule.purposes is not None and purpose not in rule.purposes:
        return base
    strict = rule.windows[channel]
    narrowed = (
        strict if base is None else Window(max(base.start, strict.start), min(base.end, strict.end))
    )
    ctx.step(channel, Note("state_window:applies", (rule.code, window_span(narrowed), rule.source)))
    return narrowed


def _holiday(
    ctx: _Context, channel: Channel, window: Window | None, start: datetime
) -> _Verdict | None:
    """A wait until the next allowed day when ``start`` falls on a public holiday."""
    rule = ctx.jurisdiction.holidays
    if (
        rule is None
        or not ctx.zones
        or not holiday_applies(rule, channel, ctx.notification.purpose)
    ):
        return None
    country = rule.country or ctx.snapshot.customer.country
    if not country:
        return None
    found = holiday_wait(start, ctx.zones, window, country, _state(ctx))
    if found is None:
        return None
    day, name, until = found
    if until is None:
        return _Verdict("skip", Note("skip:no_common_window"))
    values = (day.isoformat(), name, stamp(until))
    ctx.step(channel, Note("holiday:closed", values))
    return _Verdict("quiet", Note("wait:holiday", values), until=until)


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
        ctx.step(channel, Note("cap:none"))
    for status in statuses:
        ctx.step(channel, cap_rules.finding(status))
    exceeded = [s for s in statuses if s.exceeded]
    if not exceeded:
        return _Verdict("send", _PASSED, caps=tuple(s.check for s in statuses))
    names = tuple(s.rule.name for s in exceeded)
    if any(s.frees_at is None for s in exceeded):
        return _Verdict("skip", Note("skip:cap_never_frees", (names,)))
    until = max(s.frees_at for s in exceeded if s.frees_at is not None)
    kind: VerdictKind = (
        "purpose_cap" if any(s.rule.channel is None for s in exceeded) else ("channel_cap")
    )
    return _Verdict(kind, Note("wait:cap", (names, stamp(until))), until=until)


def _conclude(
    ctx: _Context,
    ladder: tuple[Channel, ...],
    waits: list[tuple[datetime, Channel, Note]],
    skipped: list[tuple[Any, ...]],
) -> Decision:
    trace = tuple(ctx.trace)
    if waits:
        until, channel, why = min(waits, key=lambda w: w[0])
        expires = ctx.notification.expires_at
        if expires is not None and until >= expires:
            late = (stamp(until), channel.value, why.code, *why.args)
            return Suppress(SuppressCode.EXPIRES_FIRST, Note("suppress:expires_first", late), trace)
        return Defer(until, channel, why, trace)
    if not ladder:
        return Suppress(SuppressCode.LADDER_EXHAUSTED, Note("suppress:ladder_exhausted"), trace)
    return Suppress(SuppressCode.NO_CHANNEL, Note("suppress:no_channel", tuple(skipped)), trace)
