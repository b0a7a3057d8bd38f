"""Prompts rendered ahead into the TTS cache, so the first call of a campaign waits for nothing.

A prompt whose text uses only configured values ({brand}, {callback}, {agent_uri}) is the same
on every call: ``render_flows`` synthesises it for every flow x locale x engine (the configured
engine and the espeak-ng fallback). A prompt with per-call fields ({order_id} ...) cannot be
rendered ahead: each call renders its own before dialing (``voice.call.place_call``).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from outbound.voice.flow import Flow
from outbound.voice.runner import render
from outbound.voice.tts import Tts

CONFIG_FIELDS = frozenset({"brand", "callback", "agent_uri"})


@dataclass
class RenderReport:
    rendered: int = 0  # prompts now in the cache (new or already there)
    per_call: int = 0  # prompts with per-call fields: rendered by each call before dialing
    missing: list[str] = field(default_factory=list)  # "kind/locale/step" not cached (check)


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def _texts(flow: Flow, locale: str) -> Iterator[tuple[str, str]]:
    """(step name, template) of every prompt of ``flow`` in ``locale``."""
    for name, step in flow.steps.items():
        if step.text.get(locale):
            yield name, step.text[locale]
    for name, texts in (("voicemail", flow.voicemail), ("dtmf_only", flow.dtmf_only)):
        if texts.get(locale):
            yield name, texts[locale]


def render_flows(
    flows: Iterable[Flow], engines: Iterable[Tts], values: Mapping[str, Any], *, check: bool = False
) -> RenderReport:
    """Synthesise (or with ``check`` only look up) every static prompt of ``flows``."""
    report = RenderReport()
    engines = list(engines)
    for flow in flows:
        for locale in flow.locales:
            for name, template in _texts(flow, locale):
                if not _fields(template) <= CONFIG_FIELDS:
                    report.per_call += 1
                    continue
                text = render(template, values)
                for tts in engines:
                    if check:
                        if not tts.cached(text, locale):
                            report.missing.append(f"{flow.kind}/{locale}/{name}")
                            break
                    else:
                        tts.wav_for(text, locale)
                else:
                    report.rendered += 1
    return report
