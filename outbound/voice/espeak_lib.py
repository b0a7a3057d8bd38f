"""eSpeak NG as a library: the ``libespeak-ng`` and voice data that the PyPI wheel
``espeakng-loader`` ships, through ctypes — speech on a machine without the espeak-ng binary.

The library keeps global state (one voice, one callback): one lock serialises every synthesis in
the process. Output is 16-bit mono PCM at the library's rate (22050 Hz), like ``espeak-ng -w``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from typing import Any

AUDIO_OUTPUT_SYNCHRONOUS = 0x02
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE = 1
POS_CHARACTER = 1

_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakUnavailable(RuntimeError):
    """Neither the library wheel nor a working voice for the request."""


def available() -> bool:
    return importlib.util.find_spec("espeakng_loader") is not None


class EspeakLibrary:
    """One loaded ``libespeak-ng``; ``synth`` returns (PCM, rate)."""

    _instance: EspeakLibrary | None = None
    _create = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise EspeakUnavailable(
                "no espeak-ng binary and no espeakng-loader wheel: pip install espeakng-loader"
            ) from None
        lib: Any = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        self.rate = int(lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0))
        if self.rate <= 0:
            raise EspeakUnavailable(f"libespeak-ng did not initialise (returned {self.rate})")
        self._lib = lib
        self._chunks: list[bytes] = []
        self._callback = _Callback(self._on_audio)  # kept referenced: the library calls it
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    @classmethod
    def get(cls) -> EspeakLibrary:
        with cls._create:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _on_audio(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # continue

    def synth(self, text: str, voice: str, speed: int = 175) -> tuple[bytes, int]:
        encoded = text.encode("utf-8")
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakUnavailable(f"libespeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(ESPEAK_RATE, int(speed), 0)
            self._chunks = []
            status = self._lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            if status != 0:
                raise EspeakUnavailable(f"libespeak-ng could not speak (error {status})")
            pcm, self._chunks = b"".join(self._chunks), []
        return pcm, self.rate
