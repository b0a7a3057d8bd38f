"""Time is injected: every layer reads ``clock()``; tests pass a frozen clock instead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, timezone-aware (UTC)."""
    return datetime.now(UTC)
