"""Log lines an operator can ship: ``--log-format json`` / ``[log] format = "json"`` writes one
JSON object per line (time, level, logger, message and the ids that matter), masked exactly
like the human format (``mask_log_text`` on the message and the traceback).

The ids come from the record (``log.info(..., extra={"delivery": 7})``) or from the context of
the work in hand (``bind(request_id=...)``: the API sets it per request and echoes it in the
``X-Request-ID`` response header).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: the ids a line may carry (small integers and opaque request ids: never a phone or a token)
IDS = ("notification", "delivery", "campaign", "request_id")

_context: ContextVar[dict[str, Any] | None] = ContextVar("outbound_log_ids", default=None)


@contextmanager
def bind(**ids: Any) -> Iterator[None]:
    """Every line logged inside carries ``ids`` (e.g. the request id of an API request)."""
    token = _context.set({**(_context.get() or {}), **ids})
    try:
        yield
    finally:
        _context.reset(token)


def set_ids(**ids: Any) -> None:
    """Like ``bind`` for the rest of the current context (an ASGI request's task)."""
    _context.set({**(_context.get() or {}), **ids})


class JsonFormatter(logging.Formatter):
    def __init__(self, mask: Any) -> None:
        super().__init__()
        self.mask = mask

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.mask(record.getMessage()),
        }
        for name, value in (_context.get() or {}).items():
            line[name] = value
        for name in IDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.mask(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)
