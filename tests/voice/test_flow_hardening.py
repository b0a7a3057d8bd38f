"""Malformed flows: lint reports each (file, step, field) and never raises anything else."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from outbound.cli.root import cli
from outbound.voice.flow import FlowError, flows_dir, lint, load, parse


def _good() -> dict[str, Any]:
    data = yaml.safe_load((flows_dir() / "renewal.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return change


INTRO = "steps/intro"
CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "format-spec",
        _set(f"{INTRO}/text/en-US", "This is {brand:>300000000}, press 9 to stop."),
        "step 'intro' field 'text.en-US': placeholder '{brand:>300000000}' is not a plain {name}",
    ),
    (
        "index",
        _set("steps/goodbye/text/en-US", "Thanks {0}"),
        "step 'goodbye' field 'text.en-US': placeholder '{0}' is not a plain {name}",
    ),
    (
        "conversion",
        _set("voicemail/zh-CN", "{brand!z} {callback}"),
        "step '-' field 'voicemail.zh-CN': placeholder '{brand!z}' is not a plain {name}",
    ),
    (
        "attribute",
        _set(f"{INTRO}/text/ko-KR", "{brand.__class__.__mro__[1].__subclasses__} 9"),
        "field 'text.ko-KR': placeholder '{brand.__class__.__mro__[1].__subclasses__}' is not",
    ),
    (
        "unknown-field",
        _set("steps/goodbye/text/en-US", "Thanks {order_id}"),  # a shipping field, not renewal's
        "step 'goodbye' field 'text.en-US': placeholder '{order_id}' is not a known field",
    ),
    (
        "unmatched-brace",
        _set("steps/goodbye/text/en-US", "Thanks {brand"),
        "step 'goodbye' field 'text.en-US': has an unmatched '{' at character 8",
    ),
    (
        "speech-as-list",
        _set(f"{INTRO}/intents/stop/speech", ["stop"]),
        "step 'intro' field 'intents.stop.speech': ['stop'] is not a mapping of locale",
    ),
    (
        "words-as-text",
        _set(f"{INTRO}/intents/stop/speech/en-US", "stop"),
        "step 'intro' field 'intents.stop.speech.en-US': 'stop' is not a list of words",
    ),
    (
        "intents-as-list",
        _set(f"{INTRO}/intents", ["stop"]),
        "step 'intro' field 'intents': ['stop'] is not a mapping of intent name to rule",
    ),
    (
        "next-as-list",
        _set("steps/sms_link/next", ["link_sent"]),
        "step 'sms_link' field 'next': ['link_sent'] is not text",
    ),
    ("nan-timeout", _set(f"{INTRO}/timeout", float("nan")), "field 'timeout': nan is not a finite"),
    (
        "huge-retries",
        _set(f"{INTRO}/retries", 1e9),
        "step 'intro' field 'retries': 1000000000.0 is out of range; use 0 to 5",
    ),
    ("bool-timeout", _set(f"{INTRO}/timeout", True), "field 'timeout': True is not a number"),
    ("fraction-retries", _set(f"{INTRO}/retries", 1.5), "1.5 is not a whole number"),
    ("text-as-list", _set("steps/goodbye/text", ["hi"]), "field 'text': ['hi'] is not a mapping"),
    ("locales-as-text", _set("locales", "en-US"), "field 'locales': 'en-US' is not a list"),
    ("unknown-kind", _set("kind", "parcel"), "step '-' field 'kind': 'parcel' is not one of"),
    ("two-keys", _set(f"{INTRO}/intents/stop/dtmf", "99"), "'99' is not one phone key"),
]


@pytest.mark.parametrize(("name", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_flow_is_a_lint_problem_naming_file_step_and_field(
    tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = copy.deepcopy(_good())
    change(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        found = [str(p) for p in lint(load(path))]
    except FlowError as exc:
        found = [str(p) for p in exc.problems]
    assert any(p.startswith(f"{path}: ") and expected in p for p in found), found


def test_a_non_utf8_flow_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"kind: renewal\n# caf\xe9\n")
    with pytest.raises(FlowError) as err:
        load(path)
    assert [str(p) for p in err.value.problems] == [
        f"{path}: step '-' field '-': line 2 is not UTF-8 (byte 0xe9); save the file as UTF-8"
    ]


def test_flow_lint_command_reports_every_broken_file_without_a_traceback(tmp_path: Path) -> None:
    for name, change, _ in CASES:
        data = copy.deepcopy(_good())
        change(data)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "latin.yaml").write_bytes(b"kind: renewal\n# caf\xe9\n")
    (tmp_path / "brace.yaml").write_text("kind: {\n", encoding="utf-8")
    files = sorted(str(p) for p in tmp_path.glob("*.yaml"))
    result = CliRunner(mix_stderr=False).invoke(cli, ["flow", "lint", *files])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    for path in files:
        assert f"{path}: step " in result.stdout


def test_a_flow_with_a_format_spec_cannot_be_loaded_for_a_call() -> None:
    data = _good()
    data["steps"]["intro"]["text"]["en-US"] += " {brand:>300000000}"
    problems = lint(parse(data, "renewal.yaml"))
    assert [p.field for p in problems if "not a plain {name}" in p.message] == ["text.en-US"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        items: list[tuple[Any, Any]] = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return []
    out: list[tuple[Any, ...]] = []
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


ODD_VALUES: list[Any] = [None, [], {}, "x{", "}", 1e9, float("nan"), True, ["a"], {"a": 1}, 7]


def test_lint_never_raises_for_any_node_replaced_by_any_odd_value() -> None:
    good = _good()
    paths = _paths(good)
    assert len(paths) > 100  # every node of a real flow, not a toy
    for path in paths:
        for value in ODD_VALUES:
            data = copy.deepcopy(good)
            node: Any = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            try:
                lint(parse(data, "odd.yaml"))
            except FlowError as exc:
                assert exc.problems and all(p.file == "odd.yaml" for p in exc.problems)


def test_a_key_given_twice_is_a_problem_naming_it_and_its_line(tmp_path: Path) -> None:
    """Two ``start:`` lines (or two steps of one name): YAML keeps the last without a word."""
    text = (flows_dir() / "renewal.yaml").read_text(encoding="utf-8")
    path = tmp_path / "twice.yaml"
    path.write_text(
        text.replace("start: intro", "start: intro\nstart: goodbye", 1), encoding="utf-8"
    )
    with pytest.raises(FlowError) as err:
        load(path)
    (problem,) = [str(p) for p in err.value.problems]
    assert problem.startswith(f"{path}: step '-' field '-': cannot read: 'start' is given twice")
    assert f"line {text.splitlines().index('start: intro') + 2}" in problem


def test_a_misspelled_top_level_key_is_named_with_the_known_ones(tmp_path: Path) -> None:
    data = copy.deepcopy(_good())
    data["dtmf_onyl"] = data["dtmf_only"]
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FlowError) as err:
        load(path)
    assert [str(p) for p in err.value.problems] == [
        f"{path}: step '-' field 'dtmf_onyl': unknown field; known: kind, locales, start, "
        "voicemail, dtmf_only, steps"
    ]
