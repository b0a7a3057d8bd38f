"""SMS text: GSM-7 or UCS-2 chosen from the text, and the split into concatenated parts.

Pure functions (no I/O), so ``campaign preview`` can show the length and part count a message
will have before anything is sent. Limits (3GPP TS 23.038 / 23.040):

* GSM-7: 160 septets in one SMS, 153 per part with a concatenation UDH; the extension
  characters (``^{}\\[~]|€`` and form feed) take two septets and are never split across parts.
* UCS-2: 70 UTF-16 code units in one SMS, 67 per part; a surrogate pair is never split.

Parts are sent unpacked (one septet per octet, SMPP ``data_coding`` 0), as SMSCs expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESCAPE = 0x1B
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != ESCAPE}
_EXT_DECODE = {v: k for k, v in GSM7_EXTENSION.items()}

ESM_UDHI = 0x40  # esm_class: the short message starts with a user data header
DATA_CODING_GSM7 = 0x00
DATA_CODING_UCS2 = 0x08

Encoding = Literal["gsm7", "ucs2"]
LIMITS: dict[Encoding, tuple[int, int]] = {"gsm7": (160, 153), "ucs2": (70, 67)}


@dataclass(frozen=True)
class SmsPlan:
    """How a text goes out: encoding, length in its units, and the part payloads (no UDH)."""

    text: str
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: tuple[bytes, ...]

    @property
    def data_coding(self) -> int:
        return DATA_CODING_GSM7 if self.encoding == "gsm7" else DATA_CODING_UCS2

    @property
    def concatenated(self) -> bool:
        return len(self.parts) > 1


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC or ch in GSM7_EXTENSION for ch in text)


def _gsm7_chars(text: str) -> list[bytes]:
    return [
        bytes([_BASIC[ch]]) if ch in _BASIC else bytes([ESCAPE, GSM7_EXTENSION[ch]]) for ch in text
    ]


def _ucs2_chars(text: str) -> list[bytes]:
    return [ch.encode("utf-16-be") for ch in text]  # 2 bytes, or 4 for a surrogate pair


def _pack(chars: list[bytes], size: int) -> list[bytes]:
    """Greedy split into parts of at most ``size`` bytes without cutting a character."""
    parts: list[bytes] = []
    current = b""
    for ch in chars:
        if len(current) + len(ch) > size:
            parts.append(current)
            current = b""
        current += ch
    if current or not parts:
        parts.append(current)
    return parts


def plan(text: str) -> SmsPlan:
    """Pick the encoding and split; Chinese (anything outside GSM-7) goes as UCS-2."""
    encoding: Encoding = "gsm7" if is_gsm7(text) else "ucs2"
    chars = _gsm7_chars(text) if encoding == "gsm7" else _ucs2_chars(text)
    width = 1 if encoding == "gsm7" else 2
    units = sum(len(c) for c in chars) // width
    single, per_part = LIMITS[encoding]
    if units <= single:
        return SmsPlan(text, encoding, units, (b"".join(chars),))
    parts = _pack(chars, per_part * width)
    if len(parts) > 255:
        raise ValueError(f"text of {units} {encoding} units needs {len(parts)} parts; max 255")
    return SmsPlan(text, encoding, units, tuple(parts))


def udh(reference: int, total: int, sequence: int) -> bytes:
    """Concatenation header, 8-bit reference (IEI 0x00): ``05 00 03 ref total seq``."""
    return bytes([0x05, 0x00, 0x03, reference & 0xFF, total, sequence])


def decode(payload: bytes, data_coding: int) -> str:
    """Text of an inbound (MO) short message; a UDH must already be stripped."""
    coding = data_coding & 0x0F
    if coding == DATA_CODING_UCS2:
        return payload.decode("utf-16-be", errors="replace")
    if coding == 0x03:
        return payload.decode("latin-1")
    if coding == 0x01:
        return payload.decode("ascii", errors="replace")
    return gsm7_decode(payload)


def gsm7_decode(payload: bytes) -> str:
    out: list[str] = []
    escaped = False
    for byte in payload:
        if escaped:
            out.append(_EXT_DECODE.get(byte, " "))
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        else:
            out.append(GSM7_BASIC[byte] if byte < len(GSM7_BASIC) else "?")
    return "".join(out)


def strip_udh(payload: bytes, esm_class: int) -> bytes:
    if esm_class & ESM_UDHI and payload:
        return payload[payload[0] + 1 :]
    return payload
