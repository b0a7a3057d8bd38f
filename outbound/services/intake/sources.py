"""Webhook sources: the shops and systems that may post events, each with its signing secrets.

What the command line, the console and the API's gate call: the checks of a new source (name,
event types, rate), its audit events (``source.created``, ``source.rotated``), and the live
sources with their secrets. The rows are ``outbound.store.sources``'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
#: how a source signs and what it sends: our own events (Standard Webhooks) or a shop platform's
KINDS = ("standard", "shopify", "woocommerce")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SHOP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]{0,400}$")
#: the longest signing secret a source may have (a platform's secret is pasted in)
MAX_SECRET = 128


@dataclass(frozen=True)
class Shop:
    """What a shop platform's source adds: its kind and the facts its payloads leave out."""

    kind: str = "standard"
    currency: str | None = None
    shop_url: str | None = None

    def problems(self) -> list[FieldProblem]:
        out = []
        if self.kind not in KINDS:
            out.append(
                FieldProblem("kind", self.kind, f"is not a source kind; use {', '.join(KINDS)}")
            )
        if self.kind == "standard":
            return out
        if self.currency is None or not _CURRENCY.match(self.currency):
            out.append(
                FieldProblem(
                    "currency", self.currency, "is required: ISO 4217, e.g. --currency EUR"
                )
            )
        if self.shop_url is None or not _SHOP_URL.match(self.shop_url):
            out.append(
                FieldProblem(
                    "shop_url", self.shop_url, "is required: e.g. --shop-url https://shop.example"
                )
            )
        return out


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


def _check(name: str, events: list[str], rate: int, shop: Shop) -> None:
    problems = shop.problems()
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
    shop: Shop | None = None,
) -> None:
    """Create a source with its first ``secret`` (made by the caller or pasted from the shop
    platform; never logged); audited. ``shop``: a Shopify or WooCommerce source's facts."""
    shop = shop or Shop()
    _check(name, events, rate, shop)
    secret = check_secret(secret)
    facts = (shop.kind, shop.currency, shop.shop_url)
    sid = rows.insert_source(conn, name, events, rate, now, facts)
    if sid is None:
        raise ValidationError([FieldProblem("name", name, "exists; use `outbound source rotate`")])
    rows.add_secret(conn, sid, secret, now)
    data = {"events": events, "rate_per_second": rate, "kind": shop.kind}
    audit.append(conn, [audit.Event(actor, "source.created", f"source:{name}", data)], now)


def rotate(
    conn: Connection, name: str, keep_old: timedelta, *, secret: str, now: datetime, actor: str
) -> None:
    """Add ``secret``; the current ones stay valid for ``keep_old`` so senders can switch."""
    secret = check_secret(secret)
    sid = rows.source_id(conn, name)
    rows.expire_secrets(conn, sid, now + keep_old)
    rows.add_secret(conn, sid, secret, now)
    data = {"old_secrets_expire": (now + keep_old).isoformat()}
    audit.append(conn, [audit.Event(actor, "source.rotated", f"source:{name}", data)], now)


def active_sources(conn: Connection, now: datetime) -> list[Source]:
    """The active sources with their live secrets (newest first), for checking signatures."""
    return rows.active_sources(conn, now)


def list_sources(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every source: name, kind, allowed events, rate per second, how many secrets are live
    now, and a shop platform's currency and URL."""
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "events": list(s.events),
            "rate_per_second": s.rate_per_second,
            "live_secrets": len(s.secrets),
            "currency": s.currency,
            "shop_url": s.shop_url,
        }
        for s in active_sources(conn, now)
    ]
