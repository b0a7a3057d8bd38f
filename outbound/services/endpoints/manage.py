"""The shop's status webhook endpoints: add, list, disable, enable, rotate, remove, the recent
deliveries and replays. What ``outbound endpoint …`` and the console call; every change is
audited, and the signing secret is made here, returned once and never logged."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.services.endpoints.events import EVENT_TYPES, invalidate
from outbound.store import audit
from outbound.store import endpoints as store

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def new_secret() -> str:
    """A fresh ``whsec_`` secret (32 random bytes, base64), as Standard Webhooks gives them."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _checked(name: str, url: str, events: Sequence[str]) -> list[str]:
    problems = []
    if not _NAME.match(name):
        problems.append(FieldProblem("name", name, "must be 1-64 of a-z 0-9 _ - (e.g. shop-desk)"))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            FieldProblem("url", url, "must be an http(s) URL, e.g. https://shop.example/hooks")
        )
    if not events:
        problems.append(FieldProblem("events", "", f"name one or more of {', '.join(EVENT_TYPES)}"))
    problems.extend(
        FieldProblem("events", e, f"is not an event type; known: {', '.join(EVENT_TYPES)}")
        for e in events
        if e not in EVENT_TYPES
    )
    if problems:
        raise ValidationError(problems)
    return list(dict.fromkeys(events))


def add(
    conn: Connection,
    name: str,
    url: str,
    events: Sequence[str],
    *,
    include_phone: bool,
    now: datetime,
    actor: str,
) -> str:
    """Register an endpoint; returns its signing secret (show it once)."""
    wanted = _checked(name, url, events)
    secret = new_secret()
    store.add_endpoint(conn, name, url, wanted, secret=secret, include_phone=include_phone, now=now)
    data = {"url": url, "events": wanted, "include_phone": include_phone}
    audit.append(conn, [audit.Event(actor, "endpoint.created", f"endpoint:{name}", data)], now)
    invalidate()
    return secret


def listing(conn: Connection) -> list[dict[str, Any]]:
    """Every endpoint with its status, the run of failed attempts and its queue depth."""
    return [
        {
            "name": e.name,
            "url": e.url,
            "events": list(e.events),
            "include_phone": e.include_phone,
            "status": e.status,
            "disabled_reason": e.disabled_reason,
            "failure_run": e.failure_run,
            "queued": e.queued,
        }
        for e in store.all_endpoints(conn)
    ]


def set_enabled(conn: Connection, name: str, enabled: bool, *, now: datetime, actor: str) -> None:
    endpoint = store.endpoint_named(conn, name)
    reason = None if enabled else f"disabled by {actor}"
    store.set_status(conn, endpoint.id, "active" if enabled else "disabled", reason, now)
    action = "endpoint.enabled" if enabled else "endpoint.disabled"
    audit.append(conn, [audit.Event(actor, action, f"endpoint:{name}", {"reason": reason})], now)
    invalidate()


def rotate(conn: Connection, name: str, keep_old: timedelta, *, now: datetime, actor: str) -> str:
    """A new secret; the old one also signs for ``keep_old``. Returns the new one (once)."""
    endpoint = store.endpoint_named(conn, name)
    secret = new_secret()
    store.rotate_secret(conn, endpoint.id, secret, now + keep_old, now)
    data = {"old_secret_signs_until": (now + keep_old).isoformat()}
    audit.append(conn, [audit.Event(actor, "endpoint.rotated", f"endpoint:{name}", data)], now)
    return secret


def remove(conn: Connection, name: str, *, now: datetime, actor: str) -> None:
    endpoint = store.endpoint_named(conn, name)
    store.remove_endpoint(conn, endpoint.id)
    data = {"url": endpoint.url, "dropped_queued": endpoint.queued}
    audit.append(conn, [audit.Event(actor, "endpoint.removed", f"endpoint:{name}", data)], now)
    invalidate()


def deliveries(conn: Connection, name: str, limit: int = 50) -> list[dict[str, Any]]:
    """The endpoint's latest messages, newest first: attempts, last status code, next retry."""
    endpoint = store.endpoint_named(conn, name)
    rows = store.recent_messages(conn, endpoint.id, limit)
    out = []
    for r in rows:
        d = asdict(r)
        for key in ("next_attempt_at", "at"):
            d[key] = d[key].isoformat() if d[key] is not None else None
        out.append(d)
    return out


def replay(
    conn: Connection,
    name: str,
    *,
    now: datetime,
    actor: str,
    since: datetime | None = None,
    notification_id: int | None = None,
    webhook_id: str | None = None,
) -> int:
    """Queue the endpoint's messages again (same webhook-id); returns how many."""
    endpoint = store.endpoint_named(conn, name)
    n = store.requeue(
        conn,
        endpoint.id,
        now=now,
        since=since,
        notification_id=notification_id,
        webhook_id=webhook_id,
    )
    data = {
        "since": since.isoformat() if since else None,
        "notification": notification_id,
        "webhook_id": webhook_id,
        "messages": n,
    }
    audit.append(conn, [audit.Event(actor, "endpoint.replayed", f"endpoint:{name}", data)], now)
    return n
