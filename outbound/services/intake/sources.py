"""Webhook sources: the shops and systems that may post events, each with its signing secrets.

What the command line, the console and the API's gate call: the checks of a new source (name,
event types, rate), its audit events (``source.created``, ``source.rotated``), and the live
sources with their secrets. The rows are ``outbound.store.sources``'.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.store import audit
from outbound.store import sources as rows
from outbound.store.sources import Source as Source

#: every event type a source may be allowed to send
EVENT_TYPES: tuple[str, ...] = (
    "shipping.dispatched",
    "membership.expiring",
    "price.dropped",
    "customer.upserted",
    "consent.changed",
    "push.receipt",  # POST /v1/receipts: the shop's app reports a push delivered / opened
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _check(name: str, events: list[str], rate: int) -> None:
    problems = []
    if not _NAME.match(name):
        problems.append(FieldProblem("name", name, "must be 1-64 of a-z 0-9 _ - (e.g. shopify-eu)"))
    problems.extend(
        FieldProblem("events", e, f"is not an event type; known: {', '.join(EVENT_TYPES)}")
        for e in events
        if e not in EVENT_TYPES
    )
    if not 1 <= rate <= 100_000:
        problems.append(FieldProblem("rate", rate, "must be 1..100000 requests per second"))
    if problems:
        raise ValidationError(problems)


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
    _check(name, events, rate)
    sid = rows.insert_source(conn, name, events, rate, now)
    if sid is None:
        raise ValidationError([FieldProblem("name", name, "exists; use `outbound source rotate`")])
    rows.add_secret(conn, sid, secret, now)
    data = {"events": events, "rate_per_second": rate}
    audit.append(conn, [audit.Event(actor, "source.created", f"source:{name}", data)], now)


def rotate(
    conn: Connection, name: str, keep_old: timedelta, *, secret: str, now: datetime, actor: str
) -> None:
    """Add ``secret``; the current ones stay valid for ``keep_old`` so senders can switch."""
    sid = rows.source_id(conn, name)
    rows.expire_secrets(conn, sid, now + keep_old)
    rows.add_secret(conn, sid, secret, now)
    data = {"old_secrets_expire": (now + keep_old).isoformat()}
    audit.append(conn, [audit.Event(actor, "source.rotated", f"source:{name}", data)], now)


def active_sources(conn: Connection, now: datetime) -> list[Source]:
    """The active sources with their live secrets (newest first), for checking signatures."""
    return rows.active_sources(conn, now)


def list_sources(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every source: name, allowed events, rate per second, how many secrets are live now."""
    return [
        {
            "name": s.name,
            "events": list(s.events),
            "rate_per_second": s.rate_per_second,
            "live_secrets": len(s.secrets),
        }
        for s in active_sources(conn, now)
    ]
