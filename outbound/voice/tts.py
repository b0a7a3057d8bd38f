"""Prompt audio: gTTS when it works, eSpeak NG when it does not (offline), cached as WAV.

eSpeak NG is the ``espeak-ng`` program where it is installed, else the library and voice data
of the PyPI wheel ``espeakng-loader`` (``voice.espeak_lib``): a fresh machine speaks without apt.

Each prompt is rendered once per (engine, voice, text, rate) into the cache directory as 16-bit
mono PCM WAV at the call's clock rate, so a cached prompt starts playing without any work.
Dialer processes share the cache: files are written to a temp name and renamed into place.

A prompt that speaks a customer's own data (an order number, a name: a value of their
notification's payload) is personal data: ``for_customer`` gives a view of the cache that puts
such prompts under ``customers/<id>/``, so an erasure removes them (``forget_customer``); the
prompts every customer hears stay shared.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterable
from pathlib import Path

import miniaudio
from gtts import gTTS
from gtts.tts import gTTSError

from outbound.voice.espeak_lib import EspeakLibrary, EspeakUnavailable
from outbound.voice.prompt_cache import customer_prompt_dir, default_cache_dir

log = logging.getLogger("outbound.voice.tts")

#: locale -> (gTTS lang, gTTS tld, espeak-ng voice)
VOICES: dict[str, tuple[str, str, str]] = {
    "en-US": ("en", "us", "en-us"),
    "zh-CN": ("zh-CN", "com", "cmn"),
    "ko-KR": ("ko", "com", "ko"),
}
OFFLINE_RETRY_SECONDS = 600.0


def voice_for(locale: str) -> tuple[str, str, str]:
    if locale in VOICES:
        return VOICES[locale]
    lang = locale.split("-")[0].lower()
    return next((v for k, v in VOICES.items() if k.lower().startswith(lang)), VOICES["en-US"])


#: payload values shorter than this are not looked for in a prompt ("1", "no")
MIN_PRIVATE_CHARS = 3


class Tts:
    def __init__(
        self, cache_dir: str | Path = "", clock_rate: int = 16000, engine: str = "gtts"
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.rate = clock_rate
        self.engine = engine
        # shared with every for_customer view (a list: the views copy the reference)
        self._offline = [0.0 if engine == "gtts" else float("inf")]
        self.owner: int | None = None
        self.private: tuple[str, ...] = ()

    def for_customer(self, customer_id: int, values: Iterable[object]) -> Tts:
        """This cache as one customer's call sees it: a prompt that contains one of ``values``
        (their payload: order number, name…) is rendered into their own directory."""
        view = copy.copy(self)
        view.owner = int(customer_id)
        view.private = tuple(
            sorted(
                {
                    str(v)
                    for v in values
                    if isinstance(v, str | int) and not isinstance(v, bool)
                    if len(str(v).strip()) >= MIN_PRIVATE_CHARS
                }
            )
        )
        return view

    def _dir(self, text: str) -> Path:
        if self.owner is not None and any(v in text for v in self.private):
            return customer_prompt_dir(self.cache_dir, self.owner)
        return self.cache_dir

    def _path(self, engine: str, voice: str, text: str) -> Path:
        digest = hashlib.sha256(f"{engine}|{voice}|{self.rate}|{text}".encode()).hexdigest()
        return self._dir(text) / f"{engine}-{voice}-{self.rate}-{digest[:20]}.wav"

    def cached(self, text: str, locale: str) -> bool:
        """Whether a call could play ``text`` without synthesising it now."""
        lang, tld, espeak_voice = voice_for(locale)
        online = self.engine == "gtts" and self._path("gtts", f"{lang}.{tld}", text).exists()
        return online or self._path("espeak", espeak_voice, text).exists()

    def wav_for(self, text: str, locale: str) -> Path:
        """The cached WAV for ``text`` spoken in ``locale``; renders it on first use."""
        lang, tld, espeak_voice = voice_for(locale)
        online = self._path("gtts", f"{lang}.{tld}", text)
        if online.exists():
            return online
        offline = self._path("espeak", espeak_voice, text)
        if time.monotonic() >= self._offline[0]:
            try:
                self._store(online, self._gtts(text, lang, tld))
                return online
            except (gTTSError, OSError, ValueError, miniaudio.DecodeError) as exc:
                log.warning("gTTS unavailable (%s); speaking with espeak-ng", type(exc).__name__)
                self._offline[0] = time.monotonic() + OFFLINE_RETRY_SECONDS
        if not offline.exists():
            self._store(offline, self._espeak(text, espeak_voice))
        return offline

    def _gtts(self, text: str, lang: str, tld: str) -> bytes:
        with tempfile.TemporaryFile() as buf:
            gTTS(text, lang=lang, tld=tld, timeout=5).write_to_fp(buf)
            buf.seek(0)
            return self._pcm(buf.read())

    def espeak_engine(self) -> str:
        """Which eSpeak NG speaks offline prompts here (for logs and the demo)."""
        if shutil.which("espeak-ng"):
            return "espeak-ng (program)"
        return "espeak-ng (libespeak-ng of the espeakng-loader wheel)"

    def _espeak(self, text: str, voice: str) -> bytes:
        if shutil.which("espeak-ng"):
            done = subprocess.run(
                ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
            )
            return self._pcm(done.stdout)
        try:
            pcm, rate = EspeakLibrary.get().synth(text, voice)
        except (EspeakUnavailable, OSError) as exc:
            raise OSError(f"no speech engine for prompts: {exc}") from None
        return self._pcm(_wav_bytes(pcm, rate))

    def _pcm(self, encoded: bytes) -> bytes:
        decoded = miniaudio.decode(
            encoded,
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=1,
            sample_rate=self.rate,
        )
        return bytes(decoded.samples.tobytes())

    def _store(self, path: Path, pcm: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.rate)
            out.writeframes(pcm)
        os.replace(tmp, path)


def _wav_bytes(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buf.getvalue()
