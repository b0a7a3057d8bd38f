"""Masking of phone numbers, push endpoints and secrets for logs, errors and audit text."""

from __future__ import annotations

import logging
import os
import re
from typing import IO
from urllib.parse import urlsplit

_PHONE = re.compile(r"\+\d{7,15}")


#: the ITU-T E.164 country calling codes (phonenumbers' ``COUNTRY_CODE_TO_REGION_CODE`` keys,
#: held equal by tests/unit/test_masking.py): masking needs only where the code ends, and
#: importing phonenumbers' metadata for that cost every command that prints a phone ~20 ms
_CODES = """
    1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62
    63 64 65 66 81 82 84 86 90 91 92 93 94 95 98
    211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236
    237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258
    260 261 262 263 264 265 266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356
    357 358 359 370 371 372 373 374 375 376 377 378 380 381 382 383 385 386 387 389 420 421
    423 500 501 502 503 504 505 506 507 508 509 590 591 592 593 594 595 596 597 598 599 670
    672 673 674 675 676 677 678 679 680 681 682 683 685 686 687 688 689 690 691 692 800 808
    850 852 853 855 856 870 878 880 881 882 883 886 888 960 961 962 963 964 965 966 967 968
    970 971 972 973 974 975 976 977 979 992 993 994 995 996 998
"""
_CALLING_CODES = frozenset(_CODES.split())


def calling_code(digits: str) -> str:
    """The country calling code ``digits`` starts with (codes are prefix-free), else ``""``."""
    return next((digits[:n] for n in (1, 2, 3) if digits[:n] in _CALLING_CODES), "")


def mask_phone(phone: str | None) -> str:
    """``+8613800135678`` -> ``+86*******5678``: country code and last four digits stay."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 6:
        return "+" + "*" * len(digits)
    head = calling_code(digits) or digits[:1]
    return "+" + head + "*" * (len(digits) - len(head) - 4) + digits[-4:]


def mask_secret(secret: str | None) -> str:
    if not secret:
        return ""
    return secret[:2] + "…" + "*" * 6 if len(secret) > 8 else "*" * 6


def mask_endpoint(endpoint: str) -> str:
    """``https://push.example/wp/abc…xyz`` -> ``https://push.example/…wxyz``; a token -> ``…wxyz``."""
    parts = urlsplit(endpoint)
    origin = f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else ""
    return f"{origin}…{endpoint[-4:]}"


def mask_text(text: str) -> str:
    """Mask every E.164-looking number inside free text."""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


#: a phone number however it is written in free text: "+1 (415) 555-0123", "415.555.0123",
#: "00441632960961" — seven to fifteen digits with the separators people type between them,
#: not part of a word, an id ("delivery#1234567") or a path
_WRITTEN_PHONE = re.compile(r"(?<![#\w:/.\-])\+?\(?\d(?:(?:[ .\-]|\) ?)?\d){6,14}(?![\w\-])")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
#: a quoted reply in consent evidence ("sms reply 'STOP, this is Jane at 12 Elm St'")
_QUOTED_REPLY = re.compile(r"(reply|said) (['\"])(.*?)\2")
_BARE_WORD = re.compile(r"^[^\W\d_]{1,16}$")


def mask_evidence(text: str) -> str:
    """Consent evidence as it may be kept: every number that may be a phone masked to its last
    four digits, however it was written ("called from +14155550123" -> "called from
    +1*******0123")."""

    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        if _DATE.search(found):
            return found
        digits = re.sub(r"\D", "", found)
        if found.startswith("+"):
            return mask_phone("+" + digits)
        return "*" * (len(digits) - 4) + digits[-4:]

    return _WRITTEN_PHONE.sub(one, text)


def erase_evidence(text: str) -> str:
    """Consent evidence after its customer's erasure: numbers masked, quoted replies and speech
    gone unless they were one bare word ("sms reply 'STOP'" stays: it is the proof)."""

    def one(match: re.Match[str]) -> str:
        said = match.group(3)
        return match.group(0) if _BARE_WORD.match(said) else f"{match.group(1)} [erased]"

    return mask_evidence(_QUOTED_REPLY.sub(one, text))


_BEARER = re.compile(r"(?i)\b(bearer|key=|vapid t=)\s*[A-Za-z0-9._~+/=-]{8,}")
#: a long token in a URL path or query: push endpoints are capability URLs
_URL_TOKEN = re.compile(r"(https?://[^/\s\"'<>]+/)([^\s\"'<>]*)")
_LONG_RUN = re.compile(r"[A-Za-z0-9_:-]{16,}")


def _mask_url(match: re.Match[str]) -> str:
    rest = _LONG_RUN.sub(lambda m: "…" + m.group(0)[-4:], match.group(2))
    return match.group(1) + rest


def mask_log_text(text: str) -> str:
    """What a log line may show: phones masked, bearer tokens and VAPID/FCM keys hidden, the
    long tokens of URLs (push endpoints are capability URLs) cut to their last four."""
    text = _BEARER.sub(lambda m: m.group(1) + " ******", text)
    return mask_text(_URL_TOKEN.sub(_mask_url, text))


#: libraries whose info/debug output carries what a log must not: request headers and URLs
#: (bearer tokens, push endpoints; hpack, h2, httpcore, httpx, aiohttp, urllib3, google.auth),
#: hex dumps of every PDU with the bind password and the numbers (smpplib logs as
#: ``smpp.Client.<id>`` and ``smpplib.command``), request lines (uvicorn) and SIP messages with
#: the called number (pjsua2, routed into logging by outbound.voice.sip), every prompt gTTS
#: speaks, also URL-encoded where no mask can see a number in it (gtts): kept at WARNING
#: whatever the verbosity, and what they do log at WARNING goes through the masking formatter
QUIET_LIBRARIES = (
    "hpack",
    "h2",
    "httpcore",
    "httpx",
    "aiohttp",
    "urllib3",
    "google.auth",
    "smpp",
    "smpplib",
    "uvicorn",
    "pjsua2",
    "gtts",
)


class MaskingFormatter(logging.Formatter):
    """Masks every formatted log line, tracebacks included (a safety net: code masks what it
    logs, but a library's exception text may carry a number, a token or an endpoint)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_log_text(super().format(record))


LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def masking_handler(stream: IO[str] | None = None, fmt: str = "human") -> logging.Handler:
    """A stream handler (stderr by default) whose every line goes through ``mask_log_text``;
    ``fmt`` "json": one JSON object per line (outbound.domain.logs)."""
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        from outbound.domain.logs import JsonFormatter

        handler.setFormatter(JsonFormatter(mask_log_text))
    else:
        handler.setFormatter(MaskingFormatter(LOG_FORMAT))
    return handler


def quiet_libraries(level: int) -> None:
    """``QUIET_LIBRARIES`` at WARNING (or ``level`` if higher), whatever the root level."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


LOG_FORMATS = ("human", "json")


def configure_logging(level: int | None = None, fmt: str | None = None) -> None:
    """Root logging for outbound processes: one stderr handler with masking. ``fmt`` None: the
    ``OUTBOUND_LOG_FORMAT`` environment (``--log-format``, ``[log] format``), else human;
    ``level`` None: the level set last."""
    global _level
    _level = _level if level is None else level
    chosen = fmt or os.environ.get("OUTBOUND_LOG_FORMAT", "human").strip().lower()
    logging.basicConfig(
        level=_level,
        handlers=[masking_handler(fmt=chosen if chosen in LOG_FORMATS else "human")],
        force=True,
    )
    quiet_libraries(_level)


_level = logging.WARNING
