"""Voice retries by outcome and the legal call-attempt limits of policies.toml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from outbound.domain.errors import ConfigError
from outbound.domain.values import Channel, Purpose
from outbound.policy import load_rules_file
from outbound.policy.attempts import limit_notes, parse_limits
from outbound.policy.ladder import (
    Ladder,
    next_rung_delay,
    retry_class,
    tried_channels,
    voice_attempt_times,
    voice_retry_wanted,
)

POLICIES = Path(__file__).resolve().parents[3] / "config" / "policies.toml"
NOW = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
UNSURE_SILENT = {"amd": {"result": "unsure"}, "intent": "no_input", "dtmf": "", "transcript": ""}


@dataclass(frozen=True)
class Row:
    channel: str | None
    outcome: str | None
    detail: dict[str, Any] | None = None
    updated_at: datetime = NOW


def _voice(outcome: str, detail: dict[str, Any] | None = None, hours_ago: float = 0) -> Row:
    return Row("voice", outcome, detail, NOW - timedelta(hours=hours_ago))


def test_each_miss_draws_on_its_own_outcome_budget() -> None:
    ladder = Ladder(voice_retries=1, voice_busy_retries=2)
    assert tried_channels([_voice("busy"), _voice("busy")], ladder) == frozenset()
    assert tried_channels([_voice("busy")] * 3, ladder) == {Channel.VOICE}
    assert tried_channels([_voice("busy"), _voice("no_answer")], ladder) == frozenset()
    assert tried_channels([_voice("no_answer"), _voice("no_answer")], ladder) == {Channel.VOICE}


def test_an_unsure_answer_nobody_responded_to_is_retried_only_with_a_budget() -> None:
    assert retry_class("answered", UNSURE_SILENT) == "unsure"
    assert retry_class("answered", {**UNSURE_SILENT, "dtmf": "2"}) is None
    assert retry_class("answered", {"amd": {"result": "human"}, "intent": "no_input"}) is None
    history = [_voice("answered", UNSURE_SILENT)]
    assert voice_retry_wanted(Ladder(), history) is False  # default budget 0: reached
    assert voice_retry_wanted(Ladder(voice_unsure_retries=1), history) is True
    again = history * 2
    assert voice_retry_wanted(Ladder(voice_unsure_retries=1), again) is False


def test_a_voicemail_calls_again_after_the_retry_delay_while_its_budget_lasts() -> None:
    ladder = Ladder(voice_voicemail_retries=1, voice_retry_delay=timedelta(minutes=30))
    once = [_voice("voicemail")]
    assert voice_retry_wanted(ladder, once) is True
    assert next_rung_delay(ladder, Channel.VOICE, once) == timedelta(minutes=30)
    assert voice_retry_wanted(ladder, once * 2) is False
    assert next_rung_delay(ladder, Channel.VOICE, once * 2) == ladder.next_rung_delay


def test_every_placed_call_counts_as_an_attempt_and_errors_do_not() -> None:
    rows = [_voice("busy", hours_ago=3), _voice("failed", hours_ago=2), Row("sms", "delivered")]
    rows.append(_voice("answered", hours_ago=1))
    assert voice_attempt_times(rows) == (NOW - timedelta(hours=3), NOW - timedelta(hours=1))


def test_florida_oklahoma_and_maryland_allow_three_marketing_calls_in_24_hours() -> None:
    us = load_rules_file(POLICIES).jurisdictions["US"]
    limits = {rule.name: rule for rule in us.call_attempts}
    assert set(limits) == {"florida_ftsa", "oklahoma_otsa", "maryland_stop_spam_calls"}
    assert all((r.limit, r.hours) == (3, 24) and "§" in r.source for r in limits.values())
    three = [NOW - timedelta(hours=h) for h in (20, 10, 1)]
    for phone, name in (("+13055550123", "florida_ftsa"), ("+19185550123", "oklahoma_otsa")):
        (note,) = limit_notes(us.call_attempts, Purpose.MARKETING, phone, three, NOW)
        assert (note.code, note.args[:3]) == ("attempts:reached", (name, 3, 3))
    (maryland,) = limit_notes(us.call_attempts, Purpose.MARKETING, "+14105550123", three[1:], NOW)
    assert (maryland.code, maryland.args[1]) == ("attempts:ok", 2)
    assert limit_notes(us.call_attempts, Purpose.TRANSACTIONAL, "+13055550123", three, NOW) == []
    assert limit_notes(us.call_attempts, Purpose.MARKETING, "+12125550123", three, NOW) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "fl", "limit": 0, "hours": 24, "source": "x"}, "limit 0 is not a positive"),
        ({"name": "fl", "limit": 3, "hours": 24}, "source None is empty; name the law"),
        ({"name": "fl", "limit": 3, "hours": 24, "source": "x", "area_codes": [30]}, "area_codes"),
        ({"name": "FL", "limit": 3, "hours": 24, "source": "x"}, "not lower_snake_case"),
        ({"name": "fl", "limit": 3, "hours": 24, "source": "x", "days": 1}, "unknown key 'days'"),
        ({"name": "fl", "limit": 3, "hours": 24, "source": "x", "purpose": "sales"}, "'sales'"),
    ],
)
def test_a_bad_limit_names_the_entry_the_key_and_a_fix(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"\[US\.call_attempts\[0\]\]") as err:
        parse_limits([entry], "policies.toml [US.call_attempts]")
    assert message in str(err.value)
