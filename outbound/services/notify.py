"""Events become notifications: payload schema per kind, dedupe key, expiry, first plan.

The CLI (``outbound send``), campaigns and the webhook API all go through ``prepare`` then
``enqueue``, so a repeated event returns the existing notification and never sends twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import KIND_PURPOSE, Kind
from outbound.policy.model import Rules
from outbound.services import planning
from outbound.store import outbox
from outbound.store.customers import customers_with_sku

_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TOKEN = re.compile(r"^[A-Za-z0-9._:/#-]{1,64}$")

Checker = Callable[[Any], Any]


def _str(value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise ValueError("must be a non-empty string")
    text = str(value).strip()
    if len(text) > 200:
        raise ValueError("is longer than 200 characters")
    return text


def _token(value: Any) -> str:
    text = _str(value)
    if not _TOKEN.match(text):
        raise ValueError("may use only A-Z a-z 0-9 . _ : / # - (at most 64)")
    return text


def _date(value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError("is not a date; expected YYYY-MM-DD") from None


def _url(value: Any) -> str:
    if not isinstance(value, str) or not _URL.match(value) or len(value) > 2000:
        raise ValueError("is not an http(s) URL; expected like https://shop.example/p/123")
    return value


def _price(value: Any) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("is not a number; expected like 19.99") from None
    if isinstance(value, bool) or not amount.is_finite() or amount <= 0:
        raise ValueError("must be a positive amount")
    return format(amount.normalize(), "f")


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise ValueError("is not an ISO 4217 code; expected like USD, EUR, CNY")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


#: field -> (checker, required)
SCHEMAS: dict[Kind, dict[str, tuple[Checker, bool]]] = {
    Kind.SHIPPING: {
        "order_id": (_token, True),
        "carrier": (_str, True),
        "tracking_no": (_token, True),
        "eta": (_date, True),
        "shipment_id": (_token, False),
        "signature_required": (_flag, False),
    },
    Kind.RENEWAL: {
        "tier": (_str, True),
        "expires_on": (_date, True),
        "renew_url": (_url, True),
    },
    Kind.PRICE_DROP: {
        "sku": (_token, True),
        "title": (_str, True),
        "old_price": (_price, True),
        "new_price": (_price, True),
        "currency": (_currency, True),
        "url": (_url, True),
    },
}


def parse_kind(raw: str) -> Kind:
    try:
        return Kind(raw)
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise ValidationError(
            [FieldProblem("kind", raw, f"is not a notification kind; use {known}")]
        ) from None


def validate_payload(kind: Kind, payload: Any) -> dict[str, Any]:
    """Normalized payload, or ValidationError naming every bad field and value."""
    if not isinstance(payload, Mapping):
        raise ValidationError([FieldProblem("data", payload, "must be a JSON object")])
    schema = SCHEMAS[kind]
    problems: list[FieldProblem] = []
    clean: dict[str, Any] = {}
    for name in payload:
        if name not in schema:
            problems.append(
                FieldProblem(
                    f"data.{name}",
                    payload[name],
                    f"is not a {kind.value} field; known: {', '.join(schema)}",
                )
            )
    for name, (check, required) in schema.items():
        if name not in payload or payload[name] is None:
            if required:
                problems.append(FieldProblem(f"data.{name}", None, f"is required for {kind.value}"))
            continue
        try:
            clean[name] = check(payload[name])
        except ValueError as exc:
            problems.append(FieldProblem(f"data.{name}", payload[name], str(exc)))
    if (
        kind is Kind.PRICE_DROP
        and not problems
        and Decimal(clean["new_price"]) >= Decimal(clean["old_price"])
    ):
        problems.append(
            FieldProblem(
                "data.new_price",
                clean["new_price"],
                f"is not lower than old_price {clean['old_price']}",
            )
        )
    if problems:
        raise ValidationError(problems)
    return clean


def dedupe_key(kind: Kind, customer_id: int, payload: Mapping[str, Any]) -> str:
    if kind is Kind.SHIPPING:
        shipment = payload.get("shipment_id") or payload["tracking_no"]
        return f"shipping:{customer_id}:{payload['order_id']}:{shipment}"
    if kind is Kind.RENEWAL:
        return f"renewal:{customer_id}:{payload['expires_on']}"
    return f"price_drop:{customer_id}:{payload['sku']}:{payload['new_price']}"


@dataclass(frozen=True)
class Expiry:
    shipping: timedelta = timedelta(hours=72)
    price_drop: timedelta = timedelta(hours=24)

    def expires_at(
        self, kind: Kind, payload: Mapping[str, Any], now: datetime, tz: str | None
    ) -> datetime:
        if kind is Kind.RENEWAL:
            # after the expiry date ends in the customer's zone, a reminder is pointless
            zone = ZoneInfo(tz) if tz else UTC
            day = date.fromisoformat(payload["expires_on"]) + timedelta(days=1)
            return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        return now + (self.shipping if kind is Kind.SHIPPING else self.price_drop)


def prepare(
    kind: Kind,
    customer_id: int,
    customer_tz: str | None,
    raw_payload: Any,
    *,
    now: datetime,
    expiry: Expiry,
    source: str,
    campaign_id: int | None = None,
) -> outbox.NewNotification:
    payload = validate_payload(kind, raw_payload)
    return outbox.NewNotification(
        kind=kind,
        purpose=KIND_PURPOSE[kind],
        customer_id=customer_id,
        payload=payload,
        dedupe_key=dedupe_key(kind, customer_id, payload),
        expires_at=expiry.expires_at(kind, payload, now, customer_tz),
        source=source,
        campaign_id=campaign_id,
    )


def enqueue(
    conn: Connection,
    items: Sequence[outbox.NewNotification],
    *,
    rules: Rules,
    now: datetime,
    actor: str,
) -> list[outbox.Enqueued]:
    """Plan and store notifications in the caller's transaction; duplicates return the original."""
    return planning.enqueue(conn, items, rules=rules, now=now, actor=actor)


def price_drop_fanout(
    conn: Connection,
    raw_payload: Any,
    *,
    rules: Rules,
    now: datetime,
    expiry: Expiry,
    source: str,
    actor: str,
) -> list[outbox.Enqueued]:
    """One ``price.dropped`` event per SKU -> one notification per customer wishing for it.

    Deduplicated per customer x SKU x new price, so a repeated event notifies nobody twice.
    """
    payload = validate_payload(Kind.PRICE_DROP, raw_payload)
    ids = customers_with_sku(conn, payload["sku"])
    requests = [
        prepare(Kind.PRICE_DROP, cid, None, payload, now=now, expiry=expiry, source=source)
        for cid in ids
    ]
    return enqueue(conn, requests, rules=rules, now=now, actor=actor)
