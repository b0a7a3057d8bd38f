"""Webhook sources: the shops and systems that may post events, each with its signing secrets.

What the command line and the console call; the rows, checks and audit events are in
``outbound.store.sources``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from outbound.store import sources

#: every event type a source may be allowed to send
EVENT_TYPES: tuple[str, ...] = tuple(sources.EVENT_TYPES)


def add_source(
    conn: Connection,
    name: str,
    events: list[str],
    rate: int,
    *,
    secret: str,
    now: datetime,
    actor: str,
) -> None:
    """Create a source with its first ``secret`` (made by the caller; never logged); audited."""
    sources.add_source(conn, name, events, rate, secret=secret, now=now, actor=actor)


def list_sources(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every source: name, allowed events, rate per second, how many secrets are live now."""
    return sources.list_sources(conn, now)


def rotate(
    conn: Connection, name: str, keep_old: timedelta, *, secret: str, now: datetime, actor: str
) -> None:
    """Add ``secret``; the current ones stay valid for ``keep_old`` so senders can switch."""
    sources.rotate(conn, name, keep_old, secret=secret, now=now, actor=actor)
