"""The shape of a flow file, checked before anything is built from it.

A flow is YAML written by hand, so any node can be the wrong type: ``speech:`` as a list, a
step's ``next`` as a list, ``timeout: .nan``, ``retries: 1e9``. Each such node is a
``LintProblem`` naming the file, the step and the field — never a traceback and never a value
that passes because Python happens to accept it (``float('nan')``, ``True`` as a number).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from outbound.domain.errors import OutboundError

STEP_TYPES = ("say", "ask", "transfer", "hangup", "action")
STEP_FIELDS = {
    "say": {"type", "text", "next"},
    "ask": {"type", "text", "intents", "timeout", "retries", "no_input", "not_understood"},
    "transfer": {"type", "text", "target", "next"},
    "hangup": {"type", "text"},
    "action": {"type", "action", "next"},
}
INTENT_FIELDS = ("dtmf", "speech", "next")
#: (low, high) for the numbers a step may carry: seconds to wait, prompts to repeat
BOUNDS = {"timeout": (1.0, 60.0), "retries": (0, 5)}
_NAMES = ("next", "no_input", "not_understood", "action", "target")
_KEYS = set("0123456789*#")


@dataclass(frozen=True)
class LintProblem:
    file: str
    step: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: step {self.step!r} field {self.field!r}: {self.message}"


class FlowError(OutboundError):
    """A flow file is invalid; carries every problem found."""

    def __init__(self, problems: list[LintProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _texts(raw: Any, fld: str) -> Iterator[tuple[str, str]]:
    """(field, message) for a ``{locale: text}`` mapping that is not one."""
    if not isinstance(raw, Mapping):
        yield fld, f"{_show(raw)} is not a mapping of locale to text"
        return
    for loc, text in raw.items():
        if not isinstance(text, str):
            yield f"{fld}.{loc}", f"{_show(text)} is not text"


def _number(key: str, value: Any) -> str | None:
    low, high = BOUNDS[key]
    whole = key == "retries"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{_show(value)} is not a number"
    if not math.isfinite(value):
        return f"{_show(value)} is not a finite number"
    if whole and value != int(value):
        return f"{_show(value)} is not a whole number"
    if not low <= value <= high:
        return f"{_show(value)} is out of range; use {low} to {high}"
    return None


def _intent(raw: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(raw, Mapping):
        yield "", f"{_show(raw)} is not a mapping with {', '.join(INTENT_FIELDS)}"
        return
    for key in sorted(set(map(str, raw)) - set(INTENT_FIELDS)):
        yield f".{key}", f"unknown field; known: {', '.join(INTENT_FIELDS)}"
    dtmf = raw.get("dtmf")
    if dtmf is not None and (isinstance(dtmf, bool) or str(dtmf) not in _KEYS):
        yield ".dtmf", f"{_show(dtmf)} is not one phone key (0-9, * or #)"
    if "next" in raw and not isinstance(raw["next"], str):
        yield ".next", f"{_show(raw['next'])} is not a step name"
    speech = raw.get("speech")
    if speech is None:
        return
    if not isinstance(speech, Mapping):
        yield ".speech", f"{_show(speech)} is not a mapping of locale to a list of words"
        return
    for loc, words in speech.items():
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            yield f".speech.{loc}", f"{_show(words)} is not a list of words"


def _step(raw: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    kind = raw["type"]
    for key in sorted(set(map(str, raw)) - STEP_FIELDS[kind]):
        yield key, f"unknown field; known: {', '.join(sorted(STEP_FIELDS[kind]))}"
    if "text" in raw:
        yield from _texts(raw["text"], "text")
    for key in _NAMES:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            yield key, f"{_show(raw[key])} is not text"
    for key in BOUNDS:
        message = _number(key, raw[key]) if key in raw else None
        if message:
            yield key, message
    intents = raw.get("intents")
    if intents is not None and not isinstance(intents, Mapping):
        yield "intents", f"{_show(intents)} is not a mapping of intent name to rule"
    elif intents is not None:
        for name, rule in intents.items():
            yield from ((f"intents.{name}{f}", m) for f, m in _intent(rule))


#: the keys a flow file may have at its top level
TOP_FIELDS = ("kind", "locales", "start", "voicemail", "dtmf_only", "steps")


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error: two steps named
    ``intro`` (or two ``start:`` lines) would otherwise keep the last one without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _top(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key in data:
        if key not in TOP_FIELDS:
            yield str(key), f"unknown field; known: {', '.join(TOP_FIELDS)}"
    for key in ("kind", "locales", "steps", "voicemail", "dtmf_only"):
        if not data.get(key):
            yield key, "is required"
    if data.get("kind") and not isinstance(data["kind"], str):
        yield "kind", f"{_show(data['kind'])} is not text"
    if data.get("start") is not None and not isinstance(data["start"], str):
        yield "start", f"{_show(data['start'])} is not a step name"
    locales = data.get("locales")
    if locales and (not isinstance(locales, list) or not all(isinstance(x, str) for x in locales)):
        yield "locales", f"{_show(locales)} is not a list of locales like [en-US, zh-CN]"
    for key in ("voicemail", "dtmf_only"):
        if data.get(key):
            yield from _texts(data[key], key)
    if data.get("steps") and not isinstance(data["steps"], Mapping):
        yield "steps", f"{_show(data['steps'])} is not a mapping of step name to step"


def shape_problems(data: Mapping[str, Any], path: str) -> list[LintProblem]:
    """Every node of the wrong type or out of bounds; empty when the flow can be built."""
    out = [LintProblem(path, "-", f, m) for f, m in _top(data)]
    steps = data.get("steps")
    if not isinstance(steps, Mapping):
        return out
    for name, raw in steps.items():
        if not isinstance(raw, Mapping) or raw.get("type") not in STEP_TYPES:
            got = raw.get("type") if isinstance(raw, Mapping) else raw
            out.append(LintProblem(path, str(name), "type", f"{got!r} is not one of {STEP_TYPES}"))
            continue
        out.extend(LintProblem(path, str(name), f, m) for f, m in _step(raw))
    return out
