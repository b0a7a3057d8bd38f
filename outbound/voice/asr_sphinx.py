"""en-US speech without a Vosk model: PocketSphinx and the en-US model its PyPI wheel bundles.

Grammar search (JSGF) over the ask step's phrases, fed the live call audio (8 kHz G.711 on the
wire, 16 kHz from pjmedia's bridge). PocketSphinx gives no usable per-word confidence for a
grammar, so the confidence is the best hypothesis' share of the n-best list (a softmax over the
distinct full phrases' scores): two phrases that fit the audio about equally give ~0.5, which
the runner asks again — and every other phrase of the n-best goes to ``alternatives``, where a
"stop" wins over a "yes". End of speech is RMS-based: ``END_SILENCE`` seconds after voice.
"""

from __future__ import annotations

import audioop  # C; deprecated in 3.13
import logging
import math
import threading
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

from outbound.voice.asr import Recognised

log = logging.getLogger("outbound.voice.asr")
VOICED_RMS = 500
MIN_SPEECH_S = 0.06
END_SILENCE_S = 0.6
PREROLL_FRAMES = 15  # 300 ms of audio before the first voiced frame reach the decoder
NBEST = 10
SOFTMAX_T = 0.02  # n-best scores differ by hundredths between close phrases
RATE = 16000
_lock = threading.Lock()
#: out-of-grammar words beside the phrases (as Vosk's ``FILLERS``): a JSGF grammar has no
#: garbage model, and an eSpeak "no" over G.711 was "okay" (a yes) at confidence 1.0 at 20
#: starts of 20; "no" and "nope" as fillers took eSpeak's "stop" and "opt out", "who" none
FILLERS = ("who",)


def available() -> bool:
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


def _jsgf(phrases: list[str]) -> str:
    return "#JSGF V1.0;\ngrammar answers;\npublic <answer> = " + " | ".join(phrases) + " ;\n"


class SphinxRecognition:
    """One listening turn with a fresh decoder on the shared acoustic model files."""

    def __init__(self, phrases: Iterable[str]) -> None:
        from pocketsphinx import Decoder

        with _lock:  # model loading reads files and logs; one at a time
            self._dec: Any = Decoder(samprate=RATE, lm=None, logfn="/dev/null")
        known = [p.lower() for p in sorted(set(phrases)) if p and self._known(p)]
        if not known:
            raise LookupError("no phrase of the grammar is in the en-US dictionary")
        self._phrases = set(known)
        words = {w for p in known for w in p.split()}
        self._fillers = {f for f in FILLERS if f not in words and self._dec.lookup_word(f)}
        self._dec.add_jsgf_string("answers", _jsgf(known + sorted(self._fillers)))
        self._dec.activate_search("answers")
        self._dec.start_utt()
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._voiced_s = 0.0
        self._down: Any = None
        self._up: Any = None
        self._silence_s = 0.0
        self.heard_speech = False
        self.utterance_done = False
        self._result: Recognised | None = None

    @property
    def answer_over(self) -> bool:
        """The answer ended: ``END_SILENCE_S`` of silence after speech."""
        return self.utterance_done

    def _known(self, phrase: str) -> bool:
        missing = [w for w in phrase.lower().split() if self._dec.lookup_word(w) is None]
        if missing:
            log.warning("en-US speech: %r not in the dictionary; say it by key instead", phrase)
        return not missing

    def feed(self, pcm: bytes) -> None:
        """Silence before the answer only fills a short pre-roll: fed to the decoder, a second
        of it skews the live cepstral mean and "agent" comes out as "yes"."""
        if self.utterance_done:
            return
        pcm = self._telephone_band(pcm)
        seconds = len(pcm) / 2 / RATE
        voiced = audioop.rms(pcm, 2) >= VOICED_RMS
        if not self._voiced_s and not voiced:
            self._preroll.append(pcm)
            return
        while self._preroll:
            self._dec.process_raw(self._preroll.popleft(), False, False)
        self._dec.process_raw(pcm, False, False)
        if voiced:
            self._voiced_s += seconds
            self._silence_s = 0.0
            self.heard_speech = self.heard_speech or self._voiced_s >= MIN_SPEECH_S
        elif self.heard_speech:
            self._silence_s += seconds
            self.utterance_done = self._silence_s >= END_SILENCE_S

    def _telephone_band(self, pcm: bytes) -> bytes:
        """The call's 8 kHz audio, back at the model's 16 kHz without the images above 4 kHz
        that pjmedia's upsampling leaves (they turn "agent" into "yes" for this model)."""
        narrow, self._down = audioop.ratecv(pcm, 2, 1, RATE, 8000, self._down)
        wide, self._up = audioop.ratecv(narrow, 2, 1, 8000, RATE, self._up)
        return wide

    def result(self) -> Recognised:
        if self._result is not None:
            return self._result
        self._dec.end_utt()
        hyp = self._dec.hyp()
        scored: dict[str, float] = {}
        for n in islice(self._dec.nbest(), NBEST):
            if n is None or not n.hypstr:
                continue
            text = " ".join(str(n.hypstr).split())
            if (text in self._phrases or text in self._fillers) and text not in scored:
                scored[text] = float(n.score)
        best = " ".join(str(hyp.hypstr).split()) if hyp is not None and hyp.hypstr else ""
        if best not in self._phrases and best not in self._fillers:  # a partial path ("opt")
            best = next(iter(scored), "")
        phrases = tuple(t for t in scored if t in self._phrases)
        if not best or not self.heard_speech or best in self._fillers:
            unknown = bool(best) and self.heard_speech  # a filler: speech not understood
            self._result = Recognised("", None, phrases, unknown=unknown)
            return self._result
        scored.setdefault(best, max(scored.values(), default=0.0))
        top = scored[best]
        weights = {t: math.exp((s - top) / SOFTMAX_T) for t, s in scored.items()}
        total = sum(weights.values())
        others = tuple(t for t in phrases if t != best)
        nbest = tuple((self._understood(t), round(w / total, 3)) for t, w in weights.items())
        self._result = Recognised(best, round(1.0 / total, 3), others, nbest)
        return self._result

    def _understood(self, text: str) -> str:
        return "" if text in self._fillers else text
