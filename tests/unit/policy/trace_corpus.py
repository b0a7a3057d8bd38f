"""A corpus of decisions covering every rule's findings, and the words a reader sees for each.

``trace_words.json`` beside this file was written by ``python -m tests.unit.policy.trace_corpus``
run against the policy *before* traces were stored as codes and values (when the engine still
wrote its sentences itself), so the test that compares against it proves the renderer gives a
reader exactly the old words.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from outbound.domain.values import Channel, ConsentAction, Decision, Kind, Purpose, Send
from outbound.policy import decide, load_rules_file
from outbound.policy.model import (
    CapRule,
    ConsentRecord,
    CustomerView,
    HolidayRule,
    NotificationView,
    Rules,
    Snapshot,
    Window,
)

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "trace_words.json"
POLICIES = HERE.parents[2] / "config" / "policies.toml"

NY = ZoneInfo("America/New_York")
PUSH, SMS, VOICE = Channel.PUSH, Channel.SMS, Channel.VOICE
AFTERNOON = datetime(2026, 6, 10, 14, 0, tzinfo=NY)  # a Wednesday, EDT
LATE_EVENING = datetime(2026, 6, 10, 22, 30, tzinfo=NY)
WINTER = datetime(2026, 12, 1, 15, 0, 30, 250_000, tzinfo=UTC)  # microseconds on purpose
PURPOSE = {
    Kind.SHIPPING: Purpose.TRANSACTIONAL,
    Kind.RENEWAL: Purpose.SERVICE,
    Kind.PRICE_DROP: Purpose.MARKETING,
}
TCPA = "c42:tcpa_informational_voice:voice:-:"


def _customer(**overrides: Any) -> CustomerView:
    fields: dict[str, Any] = {
        "id": 42,
        "country": "US",
        "timezone": None,
        "phone_e164": "+12125551234",
        "has_push": False,
        "preference": (PUSH, SMS, VOICE),
        "suppressed": None,
    }
    fields.update(overrides)
    return CustomerView(**fields)


CUSTOMERS: dict[str, CustomerView] = {
    "ny": _customer(),
    "ny_push": _customer(has_push=True),
    "berlin": _customer(country="DE", timezone="Europe/Berlin", phone_e164="+4915123456789"),
    "london": _customer(country="GB", timezone="Europe/London", phone_e164="+447700900123"),
    "sao_paulo": _customer(
        country="BR", timezone="America/Sao_Paulo", phone_e164="+5511987654321", has_push=True
    ),
    "unknown_zone": _customer(country=None, phone_e164="+15555551234"),
    "unreachable": _customer(country=None, phone_e164=None),
    "idaho": _customer(phone_e164="+12085550123", preference=(SMS,)),
    "us_by_country": _customer(phone_e164=None, has_push=True),
    "do_not_contact": _customer(suppressed="internal do-not-call request"),
}


def _rules_variants(rules: Rules) -> dict[str, Rules]:
    us = rules.jurisdictions["US"]
    narrow = dataclasses.replace(us, windows={**us.windows, SMS: Window(time(9), time(12))})
    caps = (
        CapRule("daily_sms", 1, "day", channel=SMS),
        CapRule("weekly_push", 1, "week", channel=PUSH),
        CapRule("no_robots", 0, "day", channel=VOICE),
        CapRule("renewal_daily", 1, "day", purpose=Purpose.SERVICE),
    )
    holidays = dataclasses.replace(
        us,
        holidays=HolidayRule(frozenset({VOICE}), frozenset({Purpose.MARKETING}), "test policy"),
    )
    no_push = dataclasses.replace(
        us, windows={c: w for c, w in us.windows.items() if c is not PUSH}
    )
    return {
        "shipped": rules,
        "no_push_window": dataclasses.replace(
            rules, jurisdictions={**rules.jurisdictions, "US": no_push}
        ),
        "narrow_us_sms": dataclasses.replace(
            rules, jurisdictions={**rules.jurisdictions, "US": narrow}
        ),
        "operator_caps": dataclasses.replace(rules, operator_caps=caps),
        "us_holidays": dataclasses.replace(
            rules, jurisdictions={**rules.jurisdictions, "US": holidays}
        ),
    }


Scenario = tuple[str, NotificationView, Snapshot, Rules]


def _snap(customer: CustomerView, now: datetime, **extra: Any) -> Snapshot:
    return Snapshot(
        customer,
        extra.get("consents", ()),
        extra.get("counters", {}),
        now,
        extra.get("tried", frozenset()),
        extra.get("voice_attempts", ()),
    )


def _view(kind: Kind, expires_at: datetime | None = None, channels: Any = None) -> NotificationView:
    return NotificationView(kind, PURPOSE[kind], expires_at, channels)


def scenarios(rules: Rules) -> Iterator[Scenario]:
    variants = _rules_variants(rules)
    shipped = variants["shipped"]
    for name, customer in CUSTOMERS.items():
        for kind in Kind:
            yield f"{name}/{kind.value}/afternoon", _view(kind), _snap(customer, AFTERNOON), shipped
        yield f"{name}/late", _view(Kind.SHIPPING), _snap(customer, LATE_EVENING), shipped
        yield f"{name}/winter", _view(Kind.RENEWAL), _snap(customer, WINTER), shipped
    yield from _consent_scenarios(shipped)
    yield from _cap_scenarios(variants)
    yield from _other_scenarios(variants)
    yield from _calendar_scenarios(variants)
    yield from _attempt_scenarios(shipped)


def _attempt_scenarios(rules: Rules) -> Iterator[Scenario]:
    """Florida's 3 calls per 24 h on one subject (policies.toml [[US.call_attempts]])."""
    day = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    consents = (
        ConsentRecord(
            VOICE, Purpose.MARKETING, ConsentAction.GRANT, day, written=True, source="form"
        ),
        ConsentRecord(SMS, Purpose.MARKETING, ConsentAction.GRANT, day, source="web checkbox"),
    )
    miami = _customer(phone_e164="+13055550123", preference=(VOICE, SMS))
    hours_ago = [AFTERNOON - timedelta(hours=h) for h in (26, 5, 3, 1)]
    cases = {
        "attempts/florida_two_of_three": tuple(hours_ago[2:]),
        "attempts/florida_limit_moves_to_sms": tuple(hours_ago[1:]),
        "attempts/florida_oldest_outside_24h": (hours_ago[0], *hours_ago[2:]),
    }
    for label, attempts in cases.items():
        snap = _snap(miami, AFTERNOON, consents=consents, voice_attempts=attempts)
        yield label, _view(Kind.PRICE_DROP), snap, rules
    yield (
        "attempts/new_york_not_covered",
        _view(Kind.PRICE_DROP),
        _snap(
            _customer(preference=(VOICE, SMS)),
            AFTERNOON,
            consents=consents,
            voice_attempts=tuple(hours_ago[1:]),
        ),
        rules,
    )


def _consent_scenarios(rules: Rules) -> Iterator[Scenario]:
    day = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    ledgers: dict[str, tuple[ConsentRecord, ...]] = {
        "sms_grant_web": (
            ConsentRecord(SMS, Purpose.MARKETING, ConsentAction.GRANT, day, source="web checkbox"),
        ),
        "sms_grant_no_source": (ConsentRecord(SMS, Purpose.MARKETING, ConsentAction.GRANT, day),),
        "global_stop": (ConsentRecord(None, None, ConsentAction.REVOKE, day, source="sms STOP"),),
        "revoke_no_source": (ConsentRecord(SMS, None, ConsentAction.REVOKE, day),),
        "voice_spoken": (
            ConsentRecord(VOICE, Purpose.MARKETING, ConsentAction.GRANT, day, source="call"),
        ),
        "voice_written": (
            ConsentRecord(
                VOICE, Purpose.MARKETING, ConsentAction.GRANT, day, written=True, source="form"
            ),
        ),
    }
    for name, ledger in ledgers.items():
        for pref in ((PUSH, SMS, VOICE), (VOICE,)):
            customer = _customer(has_push=True, preference=pref)
            label = f"consent/{name}/{'-'.join(c.value for c in pref)}"
            snap = _snap(customer, AFTERNOON, consents=ledger)
            yield label, _view(Kind.PRICE_DROP), snap, rules
    stop = ledgers["global_stop"]
    yield (
        "consent/stop_shipping",
        _view(Kind.SHIPPING),
        _snap(_customer(), AFTERNOON, consents=stop),
        rules,
    )


def _cap_scenarios(variants: dict[str, Rules]) -> Iterator[Scenario]:
    shipped, capped = variants["shipped"], variants["operator_caps"]
    full_voice = {TCPA + "d2026-06-01": 3}
    both = {**full_voice, "c42:daily_sms:sms:-:2026-06-10": 1}
    yield (
        "caps/voice_full_moves_on",
        _view(Kind.SHIPPING),
        _snap(_customer(preference=(VOICE, SMS)), AFTERNOON, counters=full_voice),
        shipped,
    )
    yield (
        "caps/voice_only_waits",
        _view(Kind.SHIPPING),
        _snap(_customer(preference=(VOICE,)), AFTERNOON, counters=full_voice),
        shipped,
    )
    yield (
        "caps/both_full",
        _view(Kind.SHIPPING),
        _snap(_customer(preference=(VOICE, SMS)), AFTERNOON, counters=both),
        capped,
    )
    yield (
        "caps/weekly_push_full",
        _view(Kind.SHIPPING),
        _snap(
            _customer(has_push=True, preference=(PUSH,)),
            AFTERNOON,
            counters={"c42:weekly_push:push:-:w2026-W24": 1},
        ),
        capped,
    )
    yield (
        "caps/never_frees",
        _view(Kind.SHIPPING),
        _snap(_customer(preference=(VOICE,)), AFTERNOON),
        capped,
    )
    yield (
        "caps/purpose_wide",
        _view(Kind.RENEWAL),
        _snap(
            _customer(has_push=True),
            AFTERNOON,
            counters={"c42:renewal_daily:-:service:2026-06-10": 1},
        ),
        capped,
    )
    yield (
        "caps/under",
        _view(Kind.RENEWAL),
        _snap(
            _customer(preference=(SMS,)), AFTERNOON, counters={"c42:daily_sms:sms:-:2026-06-10": 0}
        ),
        capped,
    )


def _other_scenarios(variants: dict[str, Rules]) -> Iterator[Scenario]:
    shipped = variants["shipped"]
    ny = CUSTOMERS["ny"]
    voice_only = _customer(preference=(VOICE,))
    yield "expiry/passed", _view(Kind.SHIPPING, AFTERNOON), _snap(ny, AFTERNOON), shipped
    yield (
        "expiry/later",
        _view(Kind.SHIPPING, AFTERNOON + timedelta(days=2)),
        _snap(ny, AFTERNOON),
        shipped,
    )
    yield (
        "expiry/before_opening",
        _view(Kind.SHIPPING, datetime(2026, 6, 11, 6, 0, tzinfo=NY)),
        _snap(voice_only, LATE_EVENING),
        shipped,
    )
    yield (
        "expiry/cap_first",
        _view(Kind.SHIPPING, AFTERNOON + timedelta(days=3)),
        _snap(voice_only, AFTERNOON, counters={TCPA + "d2026-06-01": 3}),
        shipped,
    )
    yield (
        "ladder/tried_push",
        _view(Kind.SHIPPING),
        _snap(CUSTOMERS["ny_push"], AFTERNOON, tried=frozenset({PUSH})),
        shipped,
    )
    yield (
        "ladder/all_tried",
        _view(Kind.SHIPPING),
        _snap(ny, AFTERNOON, tried=frozenset({PUSH, SMS, VOICE})),
        shipped,
    )
    yield (
        "ladder/no_preference",
        _view(Kind.SHIPPING),
        _snap(_customer(has_push=True, preference=()), AFTERNOON),
        shipped,
    )
    yield (
        "ladder/explicit_channels",
        _view(Kind.SHIPPING, channels=(SMS,)),
        _snap(CUSTOMERS["ny_push"], AFTERNOON),
        shipped,
    )
    yield (
        "quiet/toll_free_no_common_window",
        _view(Kind.SHIPPING),
        _snap(_customer(phone_e164="+18005551234", preference=(SMS,)), AFTERNOON),
        variants["narrow_us_sms"],
    )
    yield (
        "quiet/no_push_window",
        _view(Kind.SHIPPING),
        _snap(CUSTOMERS["ny_push"], AFTERNOON),
        variants["no_push_window"],
    )
    yield (
        "quiet/unknown_zone_push",
        _view(Kind.SHIPPING),
        _snap(_customer(country=None, phone_e164=None, has_push=True), AFTERNOON),
        shipped,
    )
    yield (
        "quiet/closed_sms_open_push",
        _view(Kind.SHIPPING),
        _snap(
            _customer(has_push=True, preference=(SMS, PUSH)),
            datetime(2026, 6, 10, 21, 30, tzinfo=NY),
        ),
        shipped,
    )


def _calendar_scenarios(variants: dict[str, Rules]) -> Iterator[Scenario]:
    """State windows and public holidays (added after the words were first written; their
    entries in trace_words.json were written by this version)."""
    written = (
        ConsentRecord(
            VOICE, Purpose.MARKETING, ConsentAction.GRANT, AFTERNOON, written=True, source="form"
        ),
    )
    florida = _customer(phone_e164="+13055550123", preference=(VOICE,))
    yield (
        "state/florida_marketing_after_20",
        _view(Kind.PRICE_DROP),
        _snap(florida, datetime(2026, 6, 10, 20, 30, tzinfo=NY), consents=written),
        variants["shipped"],
    )
    yield (
        "holiday/thanksgiving_voice_marketing",
        _view(Kind.PRICE_DROP),
        _snap(
            _customer(preference=(VOICE,)),
            datetime(2026, 11, 26, 11, 0, tzinfo=NY),
            consents=written,
        ),
        variants["us_holidays"],
    )


def words(decision: Decision) -> dict[str, Any]:
    """What a reader is shown of a decision: verdict, reason and every step in words."""
    out: dict[str, Any] = {"type": type(decision).__name__.lower()}
    if isinstance(decision, Send):
        out["channel"], out["at"] = decision.channel.value, decision.at.isoformat()
        out["caps"] = [c.key for c in decision.caps]
    else:
        out["reason"] = decision.reason
    out["trace"] = [
        [s.rule, s.channel.value if s.channel else None, s.ok, s.detail] for s in decision.trace
    ]
    return out


def corpus(rules: Rules) -> dict[str, dict[str, Any]]:
    return {name: words(decide(n, s, r)) for name, n, s, r in scenarios(rules)}


def main() -> int:
    data = corpus(load_rules_file(POLICIES))
    GOLDEN.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(data)} decisions written to {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
