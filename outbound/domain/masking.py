"""Masking of phone numbers, push endpoints and secrets for logs, errors and audit text."""

from __future__ import annotations

import logging
import os
import re
from typing import IO
from urllib.parse import urlsplit

_PHONE = re.compile(r"\+\d{7,15}")


def mask_phone(phone: str | None) -> str:
    """``+8613800135678`` -> ``+86*******5678``: country code and last four digits stay."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 6:
        return "+" + "*" * len(digits)
    import phonenumbers  # here: a command that masks nothing does not load its metadata

    try:
        head = str(phonenumbers.parse("+" + digits, None).country_code)
    except phonenumbers.NumberParseException:
        head = digits[:1]
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
