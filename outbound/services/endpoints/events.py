"""Status events: what happened to a notification or a customer, fanned out to the endpoints
subscribed to it, written to the durable outbox in the caller's transaction.

``emit`` is one call in each service that changes a state the shop cares about. With no endpoint
subscribed it costs a dictionary look-up: the subscriber list is cached per database for a
second (``invalidate`` drops it at once after an endpoint change in this process).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.masking import mask_phone, mask_text
from outbound.domain.values import Decision, Defer, Suppress
from outbound.store import endpoints as store
from outbound.store.endpoints import NewMessage, Subscriber

EVENT_TYPES = (
    "notification.sent",
    "notification.delivered",
    "notification.failed",
    "notification.suppressed",
    "notification.deferred",
    "customer.opted_out",
    "call.transferred",
    "customer.replied",
)
CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class StatusEvent:
    type: str
    notification_id: int | None = None
    customer_id: int | None = None
    #: the notification's payload: the shop's own ids (order_id, fulfillment_id) come from it
    payload: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)


_cache: dict[str, tuple[float, list[Subscriber]]] = {}
_lock = threading.Lock()


def invalidate() -> None:
    with _lock:
        _cache.clear()


def _subscribers(conn: Connection) -> list[Subscriber]:
    key = str(conn.engine.url)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    found = store.subscribers(conn)
    with _lock:
        _cache[key] = (now + CACHE_SECONDS, found)
    return found


def new_webhook_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


_SHOP_IDS = ("order_id", "fulfillment_id", "shipment_id", "sku")


def _body(
    event: StatusEvent, facts: tuple[str | None, str | None], include_phone: bool, now: datetime
) -> str:
    external_id, phone = facts
    data: dict[str, Any] = {}
    if event.notification_id is not None:
        data["notification_id"] = event.notification_id
    if event.customer_id is not None:
        data["customer"] = {
            "external_id": external_id,
            "phone": phone if include_phone else mask_phone(phone) if phone else None,
        }
    payload = event.payload or {}
    data.update({k: payload[k] for k in _SHOP_IDS if payload.get(k) is not None})
    for key, value in event.data.items():
        if key == "phone" and isinstance(value, str) and not include_phone:
            value = mask_phone(value)
        elif key in ("text", "evidence") and isinstance(value, str) and not include_phone:
            value = mask_text(value)
        data[key] = value
    body = {"type": event.type, "timestamp": now.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


def emit(conn: Connection, events: Sequence[StatusEvent], now: datetime) -> int:
    """Write one outbox message per (event, subscribed endpoint); returns how many."""
    if not events:
        return 0
    subs = _subscribers(conn)
    if not subs:
        return 0
    wanted = [(e, [s for s in subs if e.type in s.events]) for e in events]
    facts: dict[int, tuple[str | None, str | None]] = {}
    messages: list[NewMessage] = []
    for event, targets in wanted:
        if not targets:
            continue
        cid = event.customer_id
        if cid is not None and cid not in facts:
            facts[cid] = store.customer_facts(conn, cid)
        known = facts.get(cid, (None, None)) if cid is not None else (None, None)
        messages.extend(
            NewMessage(
                s.id,
                new_webhook_id(),
                event.type,
                event.notification_id,
                _body(event, known, s.include_phone, now),
            )
            for s in targets
        )
    live = store.active_ids(conn, {m.endpoint_id for m in messages}) if messages else set()
    messages = [m for m in messages if m.endpoint_id in live]  # removed or disabled since
    store.insert_messages(conn, messages, now)
    return len(messages)


def decision_event(
    decision: Decision, notification_id: int, customer_id: int, payload: dict[str, Any]
) -> StatusEvent | None:
    """``notification.suppressed`` (reason code and words) or ``notification.deferred`` (resume
    time) for a decision that holds a notification back; None for a send."""
    if isinstance(decision, Suppress):
        data: dict[str, Any] = {"reason_code": decision.code.value, "reason": decision.reason}
        return StatusEvent("notification.suppressed", notification_id, customer_id, payload, data)
    if isinstance(decision, Defer):
        data = {
            "resume_at": decision.until.isoformat(),
            "reason": decision.reason,
            "channel": decision.channel.value if decision.channel else None,
        }
        return StatusEvent("notification.deferred", notification_id, customer_id, payload, data)
    return None


def emit_decisions(
    conn: Connection,
    decided: Sequence[tuple[Decision, int, int, dict[str, Any]]],
    now: datetime,
) -> int:
    """``emit`` the ``decision_event`` of each (decision, notification id, customer id,
    payload) that holds its notification back; returns how many messages were written."""
    held = [decision_event(*d) for d in decided]
    return emit(conn, [e for e in held if e is not None], now)
