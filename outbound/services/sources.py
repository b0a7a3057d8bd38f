"""Webhook sources: the shops and systems that may post events, each with its signing secrets.

What the command line and the console call; the rows, checks and audit events are in
``outbound.store.sources``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.store import sources

#: every event type a source may be allowed to send
EVENT_TYPES: tuple[str, ...] = tuple(sources.EVENT_TYPES)
#: standard (our events, Standard Webhooks) | shopify | woocommerce
KINDS: tuple[str, ...] = sources.KINDS
#: a shop platform's source: kind, currency, shop URL
Shop = sources.Shop
#: the longest signing secret a source may have (a platform's secret is pasted in)
MAX_SECRET = 128


def check_secret(secret: str) -> str:
    """A pasted secret without its line ending; refused (naming the fix) when empty, too long
    or holding spaces or control characters. The value itself is never shown."""
    secret = secret.strip("\r\n")
    if not secret or len(secret) > MAX_SECRET or not secret.isprintable() or " " in secret:
        raise ValidationError(
            [
                FieldProblem(
                    "secret",
                    f"<{len(secret)} characters, not shown>",
                    f"must be 1-{MAX_SECRET} printable characters without spaces on stdin, "
                    'e.g. printf %s "$SHOPIFY_CLIENT_SECRET" | outbound source add ...',
                )
            ]
        )
    return secret


def add_source(
    conn: Connection,
    name: str,
    events: list[str],
    rate: int,
    *,
    secret: str,
    now: datetime,
    actor: str,
    shop: sources.Shop | None = None,
) -> None:
    """Create a source with its first ``secret`` (made by the caller or pasted from the shop
    platform; never logged); audited. ``shop``: a Shopify or WooCommerce source's facts."""
    sources.add_source(
        conn, name, events, rate, secret=check_secret(secret), now=now, actor=actor, shop=shop
    )


def list_sources(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every source: name, allowed events, rate per second, how many secrets are live now."""
    return sources.list_sources(conn, now)


def rotate(
    conn: Connection, name: str, keep_old: timedelta, *, secret: str, now: datetime, actor: str
) -> None:
    """Add ``secret``; the current ones stay valid for ``keep_old`` so senders can switch."""
    sources.rotate(conn, name, keep_old, secret=check_secret(secret), now=now, actor=actor)
