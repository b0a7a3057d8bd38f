"""Run a voice flow against a ``CallSession``: a real SIP call, the terminal simulator or a test.

The runner decides what to say and where to go; the session only plays text, listens for an
answer within a grammar, transfers and hangs up. Side effects that touch the database (opt-out,
SMS link) are returned as ``actions`` so the dialer records them in the outcome's transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from outbound.domain.values import Intent
from outbound.voice import template
from outbound.voice.flow import Flow, IntentRule, Step

#: flow intent name -> the normalized intent recorded in the outcome detail
INTENT_OF: dict[str, Intent] = {
    "confirm": Intent.CONFIRMED,
    "repeat": Intent.REPEAT,
    "agent": Intent.AGENT,
    "stop": Intent.OPT_OUT,
}
MAX_STEPS = 30  # a callee pressing "repeat" forever still gets a goodbye
#: An utterance with phrases of several intents goes to the first one listed here. A grammar
#: without a garbage word maps noise onto short words ("그만 그만" is heard as "예 그만"), so
#: an opt-out must never lose to a "yes" heard around it, nor a request for an agent.
SPEECH_PRIORITY = ("stop", "agent", "repeat", "confirm")
#: Below this recogniser confidence an utterance is "not understood" (asked again), not acted on:
#: distorted audio makes a grammar-bound recogniser pick some phrase anyway, with low confidence.
MIN_CONFIDENCE = 0.6
#: An opt-out is honoured on weaker evidence: a missed "stop" breaks the law (revocation by any
#: reasonable means), a false one only ends robot calls the customer can re-enable.
STOP_MIN_CONFIDENCE = 0.35
#: Intents still acted on when the answer also held speech outside the grammar (``Heard.unknown``):
#: each only reaches a person or asks again, none records a yes. Over G.711 the Korean model
#: hears eSpeak's "상담원" as "아뇨 상담원" at most starts; any other intent (a "네" beside an
#: unknown word, as "아니요" is heard) is not understood.
BESIDE_UNKNOWN = ("stop", "agent", "repeat")


class PlayEnd(StrEnum):
    DONE = "done"  # the prompt played to its end
    INPUT = "input"  # the callee pressed a key during the prompt (barge-in)
    HANGUP = "hangup"  # the callee hung up during the prompt
    MACHINE = "machine"  # an answering machine was detected and its greeting (beep) has ended


@dataclass(frozen=True)
class Heard:
    """One answer: digits, recognised words, or nothing (silence); ``hangup`` ends the call."""

    dtmf: str = ""
    text: str = ""
    confidence: float | None = None
    hangup: bool = False
    #: other hypotheses of the recogniser for the same audio (n-best, partial results)
    alternatives: tuple[str, ...] = ()
    #: the answer's n-best hypotheses with their share of the recogniser's belief (see
    #: ``Grammar.confidence``); empty where the recogniser gives none
    nbest: tuple[tuple[str, float], ...] = ()
    #: words heard after the answer in the same turn: recorded in the transcript only
    tail: str = ""
    #: the answer had speech outside the grammar (the recogniser's unknown word): not
    #: understood, whatever phrase was heard beside it, unless one of ``BESIDE_UNKNOWN``
    unknown: bool = False

    @property
    def spoken(self) -> bool:
        """Words were heard, understood or not (not silence)."""
        return bool(self.text or self.unknown)


@dataclass(frozen=True)
class Grammar:
    """What may be said at an ask step: the phrases for the recogniser, the keys for DTMF."""

    phrases: Mapping[str, tuple[str, ...]]  # intent -> phrases
    keys: Mapping[str, str]  # digit -> intent

    def all_phrases(self) -> list[str]:
        return sorted({p for ps in self.phrases.values() for p in ps})

    def match(self, heard: Heard) -> str | None:
        if heard.dtmf:
            return self.keys.get(heard.dtmf[0])
        words = heard.text.strip().lower()
        if heard.spoken and any(self._says("stop", a.strip().lower()) for a in heard.alternatives):
            return "stop"  # a stop in any hypothesis wins: a stop must never become a yes
        if heard.unknown and self._intent_of(words) not in BESIDE_UNKNOWN:
            return None  # speech outside the grammar: "아니요" must not become the "네" beside it
        confidence = self.confidence(heard)
        if confidence is not None and confidence < MIN_CONFIDENCE:
            weak_stop = confidence >= STOP_MIN_CONFIDENCE and self._says("stop", words)
            return "stop" if weak_stop else None
        return self._intent_of(words)

    def confidence(self, heard: Heard) -> float | None:
        """How sure the recogniser is of the intent it heard: the best words' own confidence,
        or, when higher, the share of its n-best hypotheses that say that same intent.

        A grammar lists several ways to say one thing ("예", "네", "예 예"). A clear "예" over
        G.711 splits the recogniser between them (a live call: 예 0.38, 네 0.30, 예 예 0.25):
        the best word's confidence is then near 0.5 although every hypothesis is a yes, and a
        customer's clear yes was asked again, and again. Hypotheses of other intents or of
        nothing at all keep their weight against it."""
        if heard.confidence is None:
            return None
        intent = self._intent_of(heard.text.strip().lower())
        if intent is None or not heard.nbest or heard.unknown:
            return heard.confidence
        share = sum(p for text, p in heard.nbest if self._intent_of(text.lower()) == intent)
        return max(heard.confidence, min(1.0, round(share, 3)))

    def _intent_of(self, words: str) -> str | None:
        rank = {name: i for i, name in enumerate(SPEECH_PRIORITY)}
        for intent in sorted(self.phrases, key=lambda name: rank.get(name, len(rank))):
            if self._says(intent, words):
                return intent
        return None

    def _says(self, intent: str, words: str) -> bool:
        return any(p.lower() in words for p in self.phrases.get(intent, ()) if p)


class CallSession(Protocol):
    #: False when no recogniser exists for the call's locale: prompts then ask for keys only
    speech: bool

    def play(self, text: str, *, locale: str, barge_in: bool) -> PlayEnd: ...

    def listen(self, grammar: Grammar, *, locale: str, timeout: float) -> Heard: ...

    def transfer(self, target: str) -> bool: ...

    def hangup(self) -> None: ...


@dataclass
class RunResult:
    intent: Intent = Intent.NO_INPUT
    intents: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    confidence: float | None = None
    dtmf: str = ""
    actions: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    transferred: bool = False
    voicemail: bool = False
    callee_hung_up: bool = False
    cut_off: bool = False  # the robot hung up at max_call_seconds
    seconds: float = 0.0
    amd: dict[str, Any] | None = None  # answering-machine detection: result, cause, timing

    def detail(self) -> dict[str, Any]:
        return {
            "intent": self.intent.value,
            "intents": self.intents,
            "transcript": " | ".join(self.transcript),
            "confidence": self.confidence,
            "dtmf": self.dtmf,
            "actions": self.actions,
            "transferred": self.transferred,
            "hangup_mid_prompt": self.callee_hung_up,
            "max_seconds_reached": self.cut_off,
            "prompts": len(self.prompts),
            **({"amd": self.amd} if self.amd is not None else {}),
        }


def render(text: str, values: Mapping[str, Any]) -> str:
    """A prompt with its ``{name}`` placeholders filled (never ``str.format``: see template)."""
    return template.render(text, values)


def grammar_for(step: Step, locale: str) -> Grammar:
    phrases = {i.name: tuple(i.speech.get(locale, ())) for i in step.intents}
    keys = {i.dtmf: i.name for i in step.intents if i.dtmf}
    return Grammar(phrases, keys)


def answer_prompts(flow: Flow, locale: str, values: Mapping[str, Any], speech: bool) -> list[str]:
    """The texts a call may play right at answer: the first step's prompt and the voicemail.

    Rendered into the TTS cache before dialing, so no synthesis (slow on a loaded machine, or
    online with gTTS) sits between the callee's "hello" and the robot's first word."""
    locale = flow.locale_for(locale)
    step = flow.steps[flow.start]
    first = render(step.text.get(locale, ""), values)
    if step.type == "ask" and not speech:
        first = f"{first} {render(flow.dtmf_only.get(locale, ''), values)}"
    texts = [first, render(flow.voicemail.get(locale, ""), values)]
    return [t for t in texts if t.strip()]


@dataclass
class FlowRunner:
    flow: Flow
    session: CallSession
    locale: str
    values: Mapping[str, Any]
    result: RunResult = field(default_factory=RunResult)

    def run(self) -> RunResult:
        started = time.monotonic()
        self.locale = self.flow.locale_for(self.locale)
        name: str | None = self.flow.start
        tries: dict[str, int] = {}
        for _ in range(MAX_STEPS):
            if name is None:
                break
            name = self._step(self.flow.steps[name], tries)
        else:
            self.session.hangup()
        self.result.seconds = round(time.monotonic() - started, 3)
        return self.result

    def _text(self, step: Step) -> str:
        return render(step.text.get(self.locale, ""), self.values)

    def _play(self, text: str, barge_in: bool = False) -> PlayEnd:
        self.result.prompts.append(text)
        end = self.session.play(text, locale=self.locale, barge_in=barge_in)
        if end is PlayEnd.HANGUP:
            self.result.callee_hung_up = True
        elif end is PlayEnd.MACHINE:
            self.result.voicemail = True
            self.result.prompts.append(render(self.flow.voicemail[self.locale], self.values))
            self.session.play(self.result.prompts[-1], locale=self.locale, barge_in=False)
            self.session.hangup()
        return end

    def _step(self, step: Step, tries: dict[str, int]) -> str | None:
        if step.type == "action":
            self.result.actions.append(str(step.action))
            return step.next
        if step.type == "ask":
            return self._ask(step, tries)
        if step.type == "transfer":
            if step.text and self._play(self._text(step)) is not PlayEnd.DONE:
                return None
            self.result.transferred = self.session.transfer(render(str(step.target), self.values))
            return None if self.result.transferred else step.next
        ended = self._play(self._text(step)) if step.text else PlayEnd.DONE
        if step.type == "hangup":
            if ended is PlayEnd.DONE:
                self.session.hangup()
            return None
        return step.next if ended is PlayEnd.DONE else None

    def _ask(self, step: Step, tries: dict[str, int]) -> str | None:
        text = self._text(step)
        if not self.session.speech:
            text = f"{text} {render(self.flow.dtmf_only.get(self.locale, ''), self.values)}"
        ended = self._play(text, barge_in=True)
        if ended in (PlayEnd.HANGUP, PlayEnd.MACHINE):
            return None
        grammar = grammar_for(step, self.locale)
        heard = self.session.listen(grammar, locale=self.locale, timeout=step.timeout)
        if heard.hangup:
            self.result.callee_hung_up = True
            return None
        intent = grammar.match(heard)
        self._note(heard, intent, grammar.confidence(heard))
        if intent is not None:
            rule = next(i for i in step.intents if i.name == intent)
            return self._follow(rule)
        tries[step.name] = tries.get(step.name, 0) + 1
        if tries[step.name] <= step.retries:
            return step.name
        return step.no_input if not (heard.dtmf or heard.spoken) else step.not_understood

    def _note(self, heard: Heard, intent: str | None, confidence: float | None) -> None:
        r = self.result
        r.dtmf += heard.dtmf
        if heard.text:
            r.transcript.append(f"{heard.text} {heard.tail}".strip())  # all that was said
            r.confidence = confidence  # the intent's (``Grammar.confidence``)
        if intent is not None:
            r.intents.append(intent)
            r.intent = INTENT_OF[intent]
        else:
            silent = not (heard.dtmf or heard.spoken)
            r.intents.append("no_input" if silent else "not_understood")
            if r.intent in (Intent.NO_INPUT, Intent.NOT_UNDERSTOOD, Intent.REPEAT):
                r.intent = Intent.NO_INPUT if silent else Intent.NOT_UNDERSTOOD

    def _follow(self, rule: IntentRule) -> str:
        return rule.next


def run_flow(flow: Flow, session: CallSession, locale: str, values: Mapping[str, Any]) -> RunResult:
    return FlowRunner(flow, session, locale, values).run()
