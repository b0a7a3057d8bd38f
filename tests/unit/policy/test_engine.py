"""The engine end to end on the shipped rules. Expected instants are worked out by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from outbound.domain.values import (
    CapCheck,
    Channel,
    ConsentAction,
    Defer,
    Kind,
    Purpose,
    Send,
    Suppress,
    SuppressCode,
)
from outbound.policy import decide
from outbound.policy.model import (
    CapRule,
    ConsentRecord,
    CustomerView,
    NotificationView,
    Rules,
    Snapshot,
    Window,
)

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
PUSH, SMS, VOICE = Channel.PUSH, Channel.SMS, Channel.VOICE
MakeCustomer = Callable[..., CustomerView]
# Wednesday 2026-06-10; New York is on EDT (UTC-4).
AFTERNOON = datetime(2026, 6, 10, 14, 0, tzinfo=NY)
LATE_EVENING = datetime(2026, 6, 10, 22, 30, tzinfo=NY)
NEXT_MORNING_0800 = datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
TCPA_PREFIX = "c42:tcpa_informational_voice:voice:-:"


def note(kind: Kind = Kind.SHIPPING, expires_at: datetime | None = None) -> NotificationView:
    purpose = {
        Kind.SHIPPING: Purpose.TRANSACTIONAL,
        Kind.RENEWAL: Purpose.SERVICE,
        Kind.PRICE_DROP: Purpose.MARKETING,
    }[kind]
    return NotificationView(kind, purpose, expires_at)


def snap(
    customer: CustomerView,
    now: datetime,
    consents: tuple[ConsentRecord, ...] = (),
    counters: Mapping[str, int] | None = None,
    tried: frozenset[Channel] = frozenset(),
) -> Snapshot:
    return Snapshot(customer, consents, counters or {}, now, tried)


def rules_steps(decision: Any) -> list[tuple[str, Channel | None, bool]]:
    return [(s.rule, s.channel, s.ok) for s in decision.trace]


def test_voice_call_deferred_until_0800_local_when_triggered_at_2230(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    customer = make_customer(preference=(VOICE,))
    decision = decide(note(), snap(customer, LATE_EVENING), rules)
    assert isinstance(decision, Defer)
    assert decision.until == NEXT_MORNING_0800  # 08:00 EDT
    assert decision.channel is VOICE
    assert decision.reason.startswith("quiet hours")
    assert rules_steps(decision) == [
        ("expiry", None, True),
        ("ladder", None, True),
        ("reachable", VOICE, True),
        ("suppression", VOICE, True),
        ("consent", VOICE, True),
        ("quiet_hours", VOICE, False),
    ]
    quiet = decision.trace[-1].detail
    assert "Wed 22:30 EDT in America/New_York" in quiet
    assert "08:00–21:00" in quiet


def test_first_eligible_channel_closed_by_the_clock_is_deferred_not_bumped(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    # 21:30 EDT: SMS (08:00-21:00) is closed, push (07:00-22:00) would be open.
    customer = make_customer(has_push=True, preference=(SMS, PUSH))
    now = datetime(2026, 6, 10, 21, 30, tzinfo=NY)
    decision = decide(note(), snap(customer, now), rules)
    assert isinstance(decision, Defer)
    assert (decision.channel, decision.until) == (SMS, NEXT_MORNING_0800)


def test_push_sent_now_with_every_rule_in_the_trace(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    customer = make_customer(has_push=True, preference=())
    decision = decide(note(), snap(customer, AFTERNOON), rules)
    assert decision == Send(PUSH, AFTERNOON, (), decision.trace)
    assert rules_steps(decision) == [
        ("expiry", None, True),
        ("ladder", None, True),
        ("reachable", PUSH, True),
        ("suppression", PUSH, True),
        ("consent", PUSH, True),
        ("quiet_hours", PUSH, True),
        ("cap", PUSH, True),
    ]
    assert "Wed 14:00 EDT in America/New_York" in decision.trace[5].detail
    assert "push > sms > voice" in decision.trace[1].detail


def test_unreachable_push_falls_through_to_sms(rules: Rules, make_customer: MakeCustomer) -> None:
    decision = decide(note(), snap(make_customer(has_push=False), AFTERNOON), rules)
    assert isinstance(decision, Send) and decision.channel is SMS
    assert decision.trace[2].detail == "no push subscription"
    assert not decision.trace[2].ok


def test_voice_send_reserves_the_tcpa_rolling_cap(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    decision = decide(note(), snap(make_customer(preference=(VOICE,)), AFTERNOON), rules)
    assert isinstance(decision, Send) and decision.channel is VOICE
    # 14:00 EDT = 18:00 UTC on 10 June; 30 days earlier is 11 May.
    first = datetime(2026, 5, 11, tzinfo=UTC).date()
    keys = tuple(TCPA_PREFIX + f"d{first + timedelta(days=n)}" for n in range(31))
    assert decision.caps == (
        CapCheck("tcpa_informational_voice", TCPA_PREFIX + "d2026-06-10", 3, keys),
    )


def test_voice_cap_reached_moves_to_the_next_channel(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    counters = {TCPA_PREFIX + "d2026-06-01": 3}
    customer = make_customer(preference=(VOICE, SMS))
    decision = decide(note(), snap(customer, AFTERNOON, counters=counters), rules)
    assert isinstance(decision, Send) and decision.channel is SMS
    cap_step = next(s for s in decision.trace if s.rule == "cap" and s.channel is VOICE)
    assert not cap_step.ok and "3 of 3" in cap_step.detail


def test_voice_only_customer_waits_until_the_tcpa_cap_frees(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    counters = {TCPA_PREFIX + "d2026-06-01": 3}
    customer = make_customer(preference=(VOICE,))
    decision = decide(note(), snap(customer, AFTERNOON, counters=counters), rules)
    # day D's window is D-30..D; the 1 June bucket leaves when D-30 = 2 June, D = 2 July
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 7, 2, tzinfo=UTC)
    assert decision.channel is VOICE and "tcpa_informational_voice" in decision.reason


def test_nothing_sends_now_so_defer_to_the_earliest_cap_release(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    daily_sms = CapRule("daily_sms", 1, "day", channel=SMS)
    capped = dataclasses.replace(rules, operator_caps=(daily_sms,))
    counters = {TCPA_PREFIX + "d2026-06-01": 3, "c42:daily_sms:sms:-:2026-06-10": 1}
    customer = make_customer(preference=(VOICE, SMS))
    decision = decide(note(), snap(customer, AFTERNOON, counters=counters), capped)
    # SMS frees at local midnight: 2026-06-11 00:00 EDT = 04:00 UTC (before 2 July for voice)
    assert isinstance(decision, Defer)
    assert (decision.channel, decision.until) == (SMS, datetime(2026, 6, 11, 4, 0, tzinfo=UTC))


def test_purpose_wide_cap_defers_instead_of_trying_other_channels(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    per_day = CapRule("renewal_daily", 1, "day", purpose=Purpose.SERVICE)
    capped = dataclasses.replace(rules, operator_caps=(per_day,))
    counters = {"c42:renewal_daily:-:service:2026-06-10": 1}
    customer = make_customer(has_push=True)
    decision = decide(note(Kind.RENEWAL), snap(customer, AFTERNOON, counters=counters), capped)
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 6, 11, 4, 0, tzinfo=UTC)  # midnight EDT
    assert decision.channel is PUSH
    assert not any(s.channel is SMS for s in decision.trace)


def test_marketing_without_an_opt_in_is_suppressed_naming_each_channel(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    decision = decide(note(Kind.PRICE_DROP), snap(make_customer(), AFTERNOON), rules)
    assert isinstance(decision, Suppress)
    assert (decision.code, decision.reason) == (
        SuppressCode.NO_CHANNEL,
        "no consented, reachable channel: push: no push subscription; "
        "sms: no explicit sms consent for marketing (needs an opt-in); "
        "voice: no explicit voice consent for marketing (needs an opt-in)",
    )


def test_marketing_voice_robot_needs_written_consent(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    grant = ConsentRecord(VOICE, Purpose.MARKETING, ConsentAction.GRANT, AFTERNOON - timedelta(1))
    customer = make_customer(preference=(VOICE,))
    decision = decide(note(Kind.PRICE_DROP), snap(customer, AFTERNOON, (grant,)), rules)
    assert isinstance(decision, Suppress) and "written" in decision.reason
    written = dataclasses.replace(grant, written=True)
    decision = decide(note(Kind.PRICE_DROP), snap(customer, AFTERNOON, (written,)), rules)
    assert isinstance(decision, Send) and decision.channel is VOICE


def test_global_revoke_suppresses_every_channel(rules: Rules, make_customer: MakeCustomer) -> None:
    stop = ConsentRecord(
        None, None, ConsentAction.REVOKE, datetime(2026, 3, 1, tzinfo=UTC), source="sms STOP"
    )
    customer = make_customer(has_push=True)
    decision = decide(note(), snap(customer, AFTERNOON, (stop,)), rules)
    assert isinstance(decision, Suppress)
    for channel in ("push", "sms", "voice"):
        assert f"{channel}: revoked on 2026-03-01 via sms STOP" in decision.reason


def test_do_not_contact_customer_is_suppressed(rules: Rules, make_customer: MakeCustomer) -> None:
    customer = make_customer(suppressed="internal do-not-call request")
    decision = decide(note(), snap(customer, AFTERNOON), rules)
    assert isinstance(decision, Suppress)
    assert "sms: on the do-not-contact list: internal do-not-call request" in decision.reason


def test_expired_notification_is_suppressed_before_any_channel_rule(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    decision = decide(note(expires_at=AFTERNOON), snap(make_customer(), AFTERNOON), rules)
    assert isinstance(decision, Suppress) and decision.code is SuppressCode.EXPIRED
    assert rules_steps(decision) == [("expiry", None, False)]


def test_deferral_past_expiry_becomes_suppress(rules: Rules, make_customer: MakeCustomer) -> None:
    expires = datetime(2026, 6, 11, 6, 0, tzinfo=NY)  # 10:00 UTC, before the 12:00 UTC opening
    customer = make_customer(preference=(VOICE,))
    decision = decide(note(expires_at=expires), snap(customer, LATE_EVENING), rules)
    assert isinstance(decision, Suppress) and decision.code is SuppressCode.EXPIRES_FIRST
    assert decision.reason.startswith(
        "expires before the next allowed time (2026-06-11T12:00:00+00:00"
    )


def test_deferral_landing_exactly_on_expiry_is_suppressed(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    customer = make_customer(preference=(SMS,))
    decision = decide(note(expires_at=NEXT_MORNING_0800), snap(customer, LATE_EVENING), rules)
    assert isinstance(decision, Suppress)


def test_unknown_time_zone_fails_closed_for_sms(rules: Rules, make_customer: MakeCustomer) -> None:
    # 555 is no real area code: phonenumbers gives Etc/Unknown and no region; no country.
    customer = make_customer(country=None, phone_e164="+15555551234", preference=(SMS,))
    decision = decide(note(), snap(customer, AFTERNOON), rules)
    assert isinstance(decision, Suppress)
    assert (decision.code, decision.reason) == (
        SuppressCode.NO_CHANNEL,
        "no consented, reachable channel: sms: time zone unknown",
    )
    assert "time zone unknown" in decision.trace[-1].detail


def test_unknown_time_zone_does_not_block_push(rules: Rules, make_customer: MakeCustomer) -> None:
    customer = make_customer(country=None, phone_e164=None, has_push=True)
    decision = decide(note(), snap(customer, AFTERNOON), rules)
    assert isinstance(decision, Send) and decision.channel is PUSH


def test_ambiguous_number_deferred_until_open_in_every_candidate_zone(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    # +1 208 (Idaho) maps to Boise and Los Angeles. 14:30 UTC = 08:30 MDT, 07:30 PDT.
    customer = make_customer(phone_e164="+12085550123", preference=(SMS,))
    now = datetime(2026, 6, 15, 14, 30, tzinfo=UTC)
    decision = decide(note(), snap(customer, now), rules)
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 6, 15, 15, 0, tzinfo=UTC)  # 08:00 PDT
    assert "America/Boise" in decision.trace[-1].detail
    assert "America/Los_Angeles" in decision.trace[-1].detail


def test_toll_free_number_with_no_common_window_is_suppressed(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    # +1 800 may be anywhere in the NANP, Guam (UTC+10) to Pago Pago (UTC-11). A 09:00-12:00
    # window is 23:00-02:00 UTC in Guam and 20:00-23:00 UTC in Pago Pago: never both open.
    us = rules.jurisdictions["US"]
    narrow = dataclasses.replace(us, windows={**us.windows, SMS: Window(time(9), time(12))})
    narrowed = dataclasses.replace(rules, jurisdictions={**rules.jurisdictions, "US": narrow})
    customer = make_customer(phone_e164="+18005551234", preference=(SMS,))
    decision = decide(note(), snap(customer, AFTERNOON), narrowed)
    assert isinstance(decision, Suppress)
    assert "no common contact window across candidate time zones" in decision.reason


def test_channels_already_tried_are_not_tried_again(
    rules: Rules, make_customer: MakeCustomer
) -> None:
    customer = make_customer(has_push=True)
    decision = decide(note(), snap(customer, AFTERNOON, tried=frozenset({PUSH})), rules)
    assert isinstance(decision, Send) and decision.channel is SMS
    assert "already tried: push" in decision.trace[1].detail


def test_every_channel_tried_is_suppressed(rules: Rules, make_customer: MakeCustomer) -> None:
    tried = frozenset({PUSH, SMS, VOICE})
    decision = decide(note(), snap(make_customer(), AFTERNOON, tried=tried), rules)
    assert isinstance(decision, Suppress) and decision.code is SuppressCode.LADDER_EXHAUSTED
    assert decision.reason.startswith("no channel left")


def test_eu_customer_gets_the_eu_evening_cutoff(rules: Rules, make_customer: MakeCustomer) -> None:
    # 20:15 CEST in Berlin: EU SMS window 08:00-20:00 is closed; opens 08:00 CEST = 06:00 UTC.
    customer = make_customer(
        country="DE", timezone="Europe/Berlin", phone_e164="+4915123456789", preference=(SMS,)
    )
    now = datetime(2026, 6, 10, 20, 15, tzinfo=ZoneInfo("Europe/Berlin"))
    decision = decide(note(), snap(customer, now), rules)
    assert isinstance(decision, Defer)
    assert decision.until == datetime(2026, 6, 11, 6, 0, tzinfo=UTC)
    assert "(EU)" in decision.reason
