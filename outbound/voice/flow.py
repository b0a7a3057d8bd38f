"""Voice flows: load ``voice_flows/<kind>.yaml`` into frozen values and lint them.

The linter is the compliance gate for robot calls: the first prompt identifies the business
and offers the opt-out (key and words) at once, every step is reachable, and every branch ends
in a hang-up or a transfer. Each problem names the file, the step and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from outbound.defaults import default_dir
from outbound.domain import locales
from outbound.domain.values import Kind
from outbound.schemas.payloads import PAYLOADS
from outbound.voice import template
from outbound.voice.flow_shape import (
    STEP_TYPES,
    FlowError,
    LintProblem,
    UniqueKeyLoader,
    shape_problems,
)

INTENTS = ("confirm", "repeat", "agent", "stop")
ACTIONS = ("send_sms_link", "opt_out", "record_intent")
#: what every flow may name, whatever its kind (``call_values`` fills them)
CALL_FIELDS = ("brand", "callback", "agent_uri")
_SOURCE_FLOWS = default_dir("voice_flows")

__all__ = ["STEP_TYPES", "Flow", "FlowError", "LintProblem", "lint", "load", "load_kind", "parse"]


@dataclass(frozen=True)
class IntentRule:
    name: str
    next: str
    dtmf: str = ""
    speech: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    text: Mapping[str, str] = field(default_factory=dict)
    next: str | None = None
    intents: tuple[IntentRule, ...] = ()
    timeout: float = 6.0
    retries: int = 1
    no_input: str | None = None
    not_understood: str | None = None
    action: str | None = None
    target: str | None = None

    def successors(self) -> list[tuple[str, str]]:
        """(field, step name) pairs this step can go to."""
        out = [(f"intents.{i.name}.next", i.next) for i in self.intents]
        for name in ("next", "no_input", "not_understood"):
            value = getattr(self, name)
            if value:
                out.append((name, value))
        return out


@dataclass(frozen=True)
class Flow:
    kind: str
    path: str
    locales: tuple[str, ...]
    start: str
    steps: Mapping[str, Step]
    voicemail: Mapping[str, str]
    dtmf_only: Mapping[str, str]

    def locale_for(self, locale: str) -> str:
        """The flow's best locale for a customer's (``ko`` matches ``ko-KR``; else the first)."""
        if locale in self.locales:
            return locale
        lang = locale.split("-")[0].lower()
        same = [x for x in self.locales if x.split("-")[0].lower() == lang]
        script = locales.script_of(locale)  # zh-HK hears zh-TW (Traditional), not zh-CN
        written = [x for x in same if locales.script_of(x) == script]
        return (written or same or self.locales)[0]


def flows_dir(configured: str = "") -> Path:
    """``[voice] flows_dir`` if set; else ``./voice_flows`` when it holds flows (``outbound
    init`` writes it), else the shipped flows."""
    if configured:
        return Path(configured)
    local = Path("voice_flows")
    return local if any(local.glob("*.yaml")) else _SOURCE_FLOWS


def _texts(raw: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _intent(name: str, raw: Any) -> IntentRule:
    raw = raw if isinstance(raw, Mapping) else {}
    speech = raw.get("speech") or {}
    words = {str(loc): tuple(str(w) for w in ws) for loc, ws in speech.items()}
    dtmf = "" if raw.get("dtmf") is None else str(raw["dtmf"])
    return IntentRule(name, str(raw.get("next") or ""), dtmf, words)


def _step(name: str, raw: Mapping[str, Any]) -> Step:
    intents = raw.get("intents") or {}
    return Step(
        name=name,
        type=str(raw.get("type")),
        text=_texts(raw.get("text")),
        next=raw.get("next"),
        intents=tuple(_intent(str(n), v) for n, v in intents.items()),
        timeout=float(raw.get("timeout", 6.0)),
        retries=int(raw.get("retries", 1)),
        no_input=raw.get("no_input"),
        not_understood=raw.get("not_understood"),
        action=raw.get("action"),
        target=raw.get("target"),
    )


def parse(data: Any, path: str) -> Flow:
    """Build a Flow from parsed YAML; shape errors raise FlowError naming the field."""
    if not isinstance(data, Mapping):
        raise FlowError([LintProblem(path, "-", "-", "a flow must be a YAML mapping")])
    problems = shape_problems(data, path)
    if problems:
        raise FlowError(problems)
    steps = {str(n): _step(str(n), s) for n, s in data["steps"].items()}
    return Flow(
        kind=str(data["kind"]),
        path=path,
        locales=tuple(str(x) for x in data["locales"]),
        start=str(data.get("start") or next(iter(steps))),
        steps=steps,
        voicemail=_texts(data.get("voicemail")),
        dtmf_only=_texts(data.get("dtmf_only")),
    )


def load(path: Path) -> Flow:
    try:
        raw = path.read_bytes()
        data = yaml.load(raw.decode("utf-8"), Loader=UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"line {line} is not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        raise FlowError([LintProblem(str(path), "-", "-", message)]) from None
    except (OSError, yaml.YAMLError) as exc:
        raise FlowError([LintProblem(str(path), "-", "-", f"cannot read: {exc}")]) from None
    except RecursionError:
        message = "cannot read: the YAML is nested too deeply"
        raise FlowError([LintProblem(str(path), "-", "-", message)]) from None
    return parse(data, str(path))


def load_kind(kind: str, directory: Path) -> Flow:
    """Load and lint ``<directory>/<kind>.yaml``; raises FlowError when it is not clean."""
    flow = load(directory / f"{kind}.yaml")
    problems = lint(flow)
    if problems:
        raise FlowError(problems)
    return flow


# --- lint rules ----------------------------------------------------------------------------


def lint(flow: Flow) -> list[LintProblem]:
    """Every rule's problems, in a stable order."""
    problems: list[LintProblem] = []
    for rule in (
        _rule_kind,
        _rule_placeholders,
        _rule_known_targets,
        _rule_step_fields,
        _rule_locales,
        _rule_identification_first,
        _rule_opt_out_in_first_prompt,
        _rule_intents_distinct,
        _rule_reachable,
        _rule_every_branch_ends,
    ):
        problems.extend(rule(flow))
    return problems


def _p(flow: Flow, step: str, fld: str, message: str) -> LintProblem:
    return LintProblem(flow.path, step, fld, message)


def _rule_known_targets(flow: Flow) -> Iterable[LintProblem]:
    if flow.start not in flow.steps:
        yield _p(flow, flow.start, "start", "names no step of this flow")
    for step in flow.steps.values():
        for fld, target in step.successors():
            if target not in flow.steps:
                yield _p(
                    flow, step.name, fld, f"{target!r} names no step; known: {list(flow.steps)}"
                )
        for intent in step.intents:
            if not intent.next:
                yield _p(flow, step.name, f"intents.{intent.name}.next", "is required")


def _rule_step_fields(flow: Flow) -> Iterable[LintProblem]:
    for s in flow.steps.values():
        if s.type in ("say", "action") and not s.next:
            yield _p(flow, s.name, "next", f"a {s.type} step must say where the call goes next")
        if s.type == "action" and s.action not in ACTIONS:
            yield _p(flow, s.name, "action", f"{s.action!r} is not one of {ACTIONS}")
        if s.type == "transfer" and not s.target:
            yield _p(flow, s.name, "target", "a transfer needs a SIP target like {agent_uri}")
        if s.type == "ask" and not s.intents:
            yield _p(flow, s.name, "intents", "an ask step needs at least one intent")
        if s.type == "ask" and not s.no_input:
            yield _p(flow, s.name, "no_input", "say where the call goes after silence")
        for intent in s.intents:
            if intent.name not in INTENTS:
                yield _p(flow, s.name, f"intents.{intent.name}", f"is not one of {INTENTS}")


def _rule_locales(flow: Flow) -> Iterable[LintProblem]:
    for s in flow.steps.values():
        if s.type in ("say", "ask") or s.text:
            for loc in flow.locales:
                if not s.text.get(loc, "").strip():
                    yield _p(flow, s.name, f"text.{loc}", "has no text for this locale")
        for loc in flow.locales:
            for intent in s.intents:
                if not intent.dtmf and not intent.speech.get(loc):
                    yield _p(flow, s.name, f"intents.{intent.name}", f"no key nor words for {loc}")
    for name, texts in (("voicemail", flow.voicemail), ("dtmf_only", flow.dtmf_only)):
        for loc in flow.locales:
            if not texts.get(loc):
                yield _p(flow, "-", f"{name}.{loc}", "has no text for this locale")


def _placeholders(text: str) -> set[str]:
    return template.fields(text)


def known_fields(kind: str) -> frozenset[str]:
    """The placeholders a flow of ``kind`` may use: the call's and the payload's fields."""
    model = PAYLOADS.get(Kind(kind)) if kind in {k.value for k in Kind} else None
    return frozenset((*CALL_FIELDS, *(model.model_fields if model else ())))


def _templates(flow: Flow) -> Iterator[tuple[str, str, str]]:
    """(step, field, text) for every text a call renders."""
    for step in flow.steps.values():
        for loc, text in step.text.items():
            yield step.name, f"text.{loc}", text
        if step.target:
            yield step.name, "target", step.target
    for name, texts in (("voicemail", flow.voicemail), ("dtmf_only", flow.dtmf_only)):
        for loc, text in texts.items():
            yield "-", f"{name}.{loc}", text


def _rule_placeholders(flow: Flow) -> Iterable[LintProblem]:
    known = known_fields(flow.kind)
    for step, fld, text in _templates(flow):
        for message in template.problems(text, known):
            yield _p(flow, step, fld, message)


def _rule_kind(flow: Flow) -> Iterable[LintProblem]:
    kinds = [k.value for k in Kind]
    if flow.kind not in kinds:
        yield _p(flow, "-", "kind", f"{flow.kind!r} is not one of {kinds}")


def _rule_identification_first(flow: Flow) -> Iterable[LintProblem]:
    first = flow.steps.get(flow.start)
    if first is None:
        return
    if first.type not in ("say", "ask"):
        yield _p(flow, first.name, "type", "the first step must be a prompt that names {brand}")
        return
    for loc in flow.locales:
        if "brand" not in _placeholders(first.text.get(loc, "")):
            yield _p(flow, first.name, f"text.{loc}", "the first prompt must identify {brand}")
    for loc, text in flow.voicemail.items():
        if "brand" not in _placeholders(text) or "callback" not in _placeholders(text):
            yield _p(flow, "-", f"voicemail.{loc}", "must name {brand} and the {callback} number")


def _rule_opt_out_in_first_prompt(flow: Flow) -> Iterable[LintProblem]:
    first = flow.steps.get(flow.start)
    if first is None or first.type not in ("say", "ask"):
        return
    stop = next((i for i in first.intents if i.name == "stop"), None)
    if first.type != "ask" or stop is None:
        yield _p(flow, first.name, "intents.stop", "the first prompt must offer the opt-out")
        return
    target = flow.steps.get(stop.next)
    if target is None or target.type != "action" or target.action != "opt_out":
        yield _p(flow, first.name, "intents.stop.next", "must go to an `action: opt_out` step")
    for loc in flow.locales:
        if stop.dtmf and stop.dtmf not in first.text.get(loc, ""):
            yield _p(flow, first.name, f"text.{loc}", f"must tell the opt-out key {stop.dtmf!r}")


def _rule_intents_distinct(flow: Flow) -> Iterable[LintProblem]:
    """One key and one phrase mean one intent: with ``9`` under both ``confirm`` and ``stop``,
    which one a caller gets would depend on the order of the YAML — an opt-out heard as a yes."""
    for s in flow.steps.values():
        keys: dict[str, str] = {}
        words: dict[tuple[str, str], str] = {}
        for intent in s.intents:
            if intent.dtmf:
                other = keys.setdefault(intent.dtmf, intent.name)
                if other != intent.name:
                    yield _p(
                        flow,
                        s.name,
                        f"intents.{intent.name}.dtmf",
                        f"key {intent.dtmf!r} is already intent {other!r}; give each intent its own key",
                    )
            for loc, phrases in intent.speech.items():
                for phrase in phrases:
                    said = words.setdefault((loc, phrase.strip().lower()), intent.name)
                    if said != intent.name:
                        yield _p(
                            flow,
                            s.name,
                            f"intents.{intent.name}.speech.{loc}",
                            f"{phrase!r} is already a phrase of intent {said!r}; "
                            "a phrase may mean one intent only",
                        )


def _reachable(flow: Flow) -> set[str]:
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.steps:
            continue
        seen.add(name)
        todo.extend(t for _, t in flow.steps[name].successors())
    return seen


def _rule_reachable(flow: Flow) -> Iterable[LintProblem]:
    if flow.start not in flow.steps:
        return
    seen = _reachable(flow)
    for name in flow.steps:
        if name not in seen:
            yield _p(flow, name, "-", f"is unreachable from the start step {flow.start!r}")


def _rule_every_branch_ends(flow: Flow) -> Iterable[LintProblem]:
    """A step from which no hang-up/transfer can be reached loops or dead-ends forever."""
    ends = {n for n, s in flow.steps.items() if s.type in ("hangup", "transfer")}
    changed = True
    while changed:
        changed = False
        for name, s in flow.steps.items():
            if name not in ends and any(t in ends for _, t in s.successors()):
                ends.add(name)
                changed = True
    for name in sorted(_reachable(flow) - ends):
        step = flow.steps[name]
        if step.type in ("say", "action") and not step.next:
            continue  # already reported by the step-field rule
        yield _p(flow, name, "next", "this branch never reaches a hangup or transfer step")
