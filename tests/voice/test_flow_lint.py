"""The flow linter: the shipped flows are clean; each rule rejects a flow that breaks it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from outbound.voice.flow import FlowError, flows_dir, lint, load_kind, parse

KINDS = ("shipping", "renewal", "price_drop")


def _good() -> dict[str, Any]:
    data = yaml.safe_load((flows_dir() / "shipping.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    try:
        return [str(p) for p in lint(parse(data, "bad.yaml"))]
    except FlowError as exc:
        return [str(p) for p in exc.problems]


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_flow_is_clean_and_has_the_eleven_template_languages(kind: str) -> None:
    flow = load_kind(kind, flows_dir())
    assert set(flow.locales) == {
        *("en-US", "zh-CN", "ko-KR", "de-DE", "fr-FR", "es-ES"),
        *("it-IT", "pt-BR", "nl-NL", "ja-JP", "zh-TW"),
    }
    assert lint(flow) == []


@pytest.mark.parametrize(
    ("customer", "spoken"),
    [("zh-HK", "zh-TW"), ("zh-SG", "zh-CN"), ("fr-CA", "fr-FR"), ("pl-PL", "en-US")],
)
def test_a_caller_hears_their_language_in_their_script(customer: str, spoken: str) -> None:
    assert load_kind("renewal", flows_dir()).locale_for(customer) == spoken


def _no_brand(d: dict[str, Any]) -> None:
    d["steps"]["intro"]["text"]["zh-CN"] = "您好。退订请按9或说停止。"


def _say_first(d: dict[str, Any]) -> None:
    d["steps"]["hello"] = {"type": "say", "text": {"en-US": "Hi"}, "next": "intro"}
    d["start"] = "hello"


def _no_stop(d: dict[str, Any]) -> None:
    del d["steps"]["intro"]["intents"]["stop"]


def _stop_key_unspoken(d: dict[str, Any]) -> None:
    d["steps"]["intro"]["text"]["ko-KR"] = "안녕하세요, {brand}입니다."


def _stop_not_opt_out(d: dict[str, Any]) -> None:
    d["steps"]["intro"]["intents"]["stop"]["next"] = "goodbye"


def _unreachable(d: dict[str, Any]) -> None:
    d["steps"]["orphan"] = {"type": "hangup", "text": {"en-US": "x", "zh-CN": "x", "ko-KR": "x"}}


def _dead_end(d: dict[str, Any]) -> None:
    d["steps"]["opt_out"]["next"] = "loop"
    d["steps"]["loop"] = {"type": "action", "action": "record_intent", "next": "opt_out"}


def _unknown_target(d: dict[str, Any]) -> None:
    d["steps"]["intro"]["intents"]["agent"]["next"] = "nowhere"


def _missing_locale(d: dict[str, Any]) -> None:
    del d["steps"]["thanks"]["text"]["ko-KR"]


def _unknown_field(d: dict[str, Any]) -> None:
    d["steps"]["thanks"]["colour"] = "red"


def _voicemail_without_callback(d: dict[str, Any]) -> None:
    d["voicemail"]["en-US"] = "Hello, this is {brand}."


def _confirm_on_the_stop_key(d: dict[str, Any]) -> None:
    d["steps"]["intro"]["intents"]["confirm"]["dtmf"] = "9"  # declared before stop


def _stop_word_as_a_yes(d: dict[str, Any]) -> None:
    d["steps"]["intro"]["intents"]["confirm"]["speech"]["ko-KR"].append("그만")


RULES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "identification_first",
        _no_brand,
        "step 'intro' field 'text.zh-CN': the first prompt must identify {brand}",
    ),
    (
        "first_step_is_prompt_with_opt_out",
        _say_first,
        "step 'hello' field 'intents.stop': the first prompt must offer the opt-out",
    ),
    (
        "opt_out_offered",
        _no_stop,
        "step 'intro' field 'intents.stop': the first prompt must offer the opt-out",
    ),
    (
        "opt_out_key_spoken",
        _stop_key_unspoken,
        "step 'intro' field 'text.ko-KR': must tell the opt-out key '9'",
    ),
    (
        "opt_out_acts",
        _stop_not_opt_out,
        "field 'intents.stop.next': must go to an `action: opt_out` step",
    ),
    ("reachable", _unreachable, "step 'orphan' field '-': is unreachable"),
    (
        "every_branch_ends",
        _dead_end,
        "step 'loop' field 'next': this branch never reaches a hangup",
    ),
    (
        "known_targets",
        _unknown_target,
        "step 'intro' field 'intents.agent.next': 'nowhere' names no step",
    ),
    ("locales", _missing_locale, "step 'thanks' field 'text.ko-KR': has no text for this locale"),
    ("shape", _unknown_field, "step 'thanks' field 'colour': unknown field"),
    (
        "one_key_one_intent",
        _confirm_on_the_stop_key,
        "step 'intro' field 'intents.stop.dtmf': key '9' is already intent 'confirm'",
    ),
    (
        "one_phrase_one_intent",
        _stop_word_as_a_yes,
        "step 'intro' field 'intents.stop.speech.ko-KR': '그만' is already a phrase of intent "
        "'confirm'",
    ),
    (
        "voicemail_names_callback",
        _voicemail_without_callback,
        "field 'voicemail.en-US': must name {brand} and the {callback}",
    ),
]


@pytest.mark.parametrize(("rule", "breaker", "expected"), RULES, ids=[r[0] for r in RULES])
def test_lint_rejects_flow_breaking_rule_naming_file_step_and_field(
    rule: str, breaker: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = copy.deepcopy(_good())
    breaker(data)
    problems = _problems(data)
    assert any(p.startswith("bad.yaml: ") and expected in p for p in problems), problems


def test_flow_lint_command_exits_1_and_names_file_step_field(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from outbound.cli.root import cli

    data = _good()
    _no_stop(data)
    bad = tmp_path / "shipping.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(cli, ["flow", "lint", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: step 'intro' field 'intents.stop'" in result.output
    assert CliRunner().invoke(cli, ["flow", "lint"]).exit_code == 0
