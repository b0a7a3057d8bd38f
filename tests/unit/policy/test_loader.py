from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest

from outbound.domain.errors import ConfigError
from outbound.domain.values import Channel, Purpose
from outbound.policy import load_rules, load_rules_file
from outbound.policy.loader import parse_cap
from outbound.policy.model import CapRule, Rules, Window


def minimal(**us: Any) -> dict[str, Any]:
    return {
        "default": {"windows": {"sms": {"start": "09:00", "end": "20:00"}}},
        "US": us or {"windows": {"voice": {"start": "08:00", "end": "21:00"}}},
    }


def test_shipped_policies_encode_the_us_calling_hours_and_tcpa_cap(rules: Rules) -> None:
    us = rules.for_country("us")
    assert us.windows[Channel.VOICE] == Window(time(8), time(21))
    assert us.consent_default[Purpose.MARKETING] == "explicit"
    assert us.consent_default[Purpose.TRANSACTIONAL] == "implied"
    assert us.caps == (
        CapRule("tcpa_informational_voice", 3, "rolling", 30, Channel.VOICE, None, legal=True),
    )


def test_shipped_policies_map_countries_and_fall_back_to_default(rules: Rules) -> None:
    assert rules.for_country("DE").code == "EU"
    assert rules.for_country("GB").code == "GB"
    assert rules.for_country("IN").windows[Channel.SMS] == Window(time(9), time(21))
    assert rules.for_country("BR").code == "default"
    assert rules.for_country(None).windows[Channel.VOICE] == Window(time(9), time(20))


def test_bad_window_time_names_the_key_the_value_and_a_hint() -> None:
    data = minimal(windows={"voice": {"start": "25:00", "end": "21:00"}})
    with pytest.raises(ConfigError) as err:
        load_rules(data)
    assert str(err.value) == (
        "policies.toml [US.windows.voice]: start '25:00' is not HH:MM; expected like '08:00'"
    )


def test_window_must_start_before_it_ends() -> None:
    with pytest.raises(ConfigError, match=r"\[US.windows.sms\]: start '21:00' is not before"):
        load_rules(minimal(windows={"sms": {"start": "21:00", "end": "08:00"}}))


def test_unknown_channel_is_rejected() -> None:
    with pytest.raises(ConfigError, match="channel 'fax' is unknown"):
        load_rules(minimal(windows={"fax": {"start": "08:00", "end": "21:00"}}))


def test_unknown_jurisdiction_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\[US\]: unknown key 'window'"):
        load_rules(minimal(window={}))


def test_bad_consent_default_is_rejected() -> None:
    with pytest.raises(ConfigError, match="'maybe' is not a consent default"):
        load_rules(minimal(consent_default={"marketing": "maybe"}))


def test_missing_consent_default_is_explicit() -> None:
    rules = load_rules(minimal(consent_default={"transactional": "implied"}))
    assert rules.jurisdictions["US"].consent_default[Purpose.SERVICE] == "explicit"


def test_missing_default_table_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"missing table \[default\]"):
        load_rules({"US": {}})


def test_country_map_must_point_at_a_defined_jurisdiction() -> None:
    data = {**minimal(), "country_map": {"DE": "EU"}}
    with pytest.raises(ConfigError, match=r"\[country_map.DE\]: jurisdiction 'EU' is not defined"):
        load_rules(data)


def test_parse_cap_builds_an_operator_cap() -> None:
    cap = parse_cap({"name": "daily_sms", "limit": 2, "window": "day", "channel": "sms"}, False)
    assert cap == CapRule("daily_sms", 2, "day", 1, Channel.SMS, None, legal=False)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"name": "x", "limit": 0, "window": "day"}, "limit 0 is not a positive integer"),
        ({"name": "x", "limit": True, "window": "day"}, "limit True is not a positive integer"),
        ({"name": "x", "limit": 1, "window": "month"}, "window 'month' is unknown"),
        ({"name": "x", "limit": 1, "window": "rolling"}, "days None is not a positive integer"),
        ({"name": "x", "limit": 1, "window": "day", "days": 3}, "only applies to window"),
        ({"name": "Bad:Name", "limit": 1, "window": "day"}, "is not lower_snake_case"),
        ({"name": "x", "limit": 1, "window": "day", "purpose": "spam"}, "purpose 'spam'"),
    ],
)
def test_parse_cap_rejects_bad_values(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_cap(mapping, False, where="operator_caps[0]")


def test_operator_caps_are_loaded_after_legal_ones_and_not_legal() -> None:
    rules = load_rules(minimal(), [{"name": "weekly", "limit": 5, "window": "week"}])
    assert rules.operator_caps == (CapRule("weekly", 5, "week", legal=False),)


def test_operator_cap_may_not_reuse_a_legal_cap_name() -> None:
    legal = {"name": "tcpa", "limit": 3, "window": "rolling", "days": 30, "channel": "voice"}
    data = minimal(caps=[legal])
    with pytest.raises(ConfigError, match="name 'tcpa' is already used"):
        load_rules(data, [{"name": "tcpa", "limit": 9, "window": "day"}])


def test_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_rules_file(tmp_path / "nope.toml")
    bad = tmp_path / "policies.toml"
    bad.write_text("[US\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_rules_file(bad)
