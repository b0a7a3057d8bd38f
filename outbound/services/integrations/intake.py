"""Apply a platform delivery's actions in the caller's transaction (the API's group commit).

Through the same services as ``/v1/events``: the customer upsert and consent ledger
(``people.customers``), notify and the price-drop fan-out (``send.notify``), erasure
(``people.erasure``) and the evidence export (``views.evidence``) — so dedupe, policy, audit
and the status webhooks behave as for our own events. What a delivery asked for and could not
do (an order we never saw, an unknown topic) is answered 200 and recorded as ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.errors import NotFoundError, ValidationError
from outbound.domain.values import Kind
from outbound.schemas.base import parse
from outbound.schemas.customers import CustomerIn
from outbound.services.integrations import privacy
from outbound.services.integrations.model import (
    CustomerSeen,
    DataRequest,
    Ignored,
    Mapped,
    OrderSeen,
    PriceSeen,
    Redact,
    Shipped,
)
from outbound.services.people import customers
from outbound.services.send import notify
from outbound.services.send.context import SendContext
from outbound.store import audit, shop
from outbound.store import sources as source_rows

log = logging.getLogger("outbound.services.integrations")


@dataclass(frozen=True)
class ShopContext:
    """What applying a delivery needs besides the connection."""

    send: SendContext
    erasure_key: bytes | None = field(default=None, repr=False)
    prompts_dir: str = ""
    exports_dir: str = "exports"


@dataclass
class Outcome:
    """The answer of one delivery (stored as its receipt)."""

    topic: str
    customer_ids: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "customer_ids": self.customer_ids,
            "notification_ids": self.notification_ids,
            "ignored": self.ignored,
            "done": self.done,
        }


def actor_of(source: source_rows.Source) -> str:
    """As ``/v1/events`` names a source: what its notifications are shown to."""
    return f"webhook:{source.name}"


def apply(
    conn: Connection, ctx: ShopContext, source: source_rows.Source, mapped: Mapped
) -> dict[str, Any]:
    """Every action of one delivery; a ``ValidationError`` (a value our rules refuse) undoes
    the delivery's writes (the caller's savepoint)."""
    out = Outcome(mapped.topic)
    now = ctx.send.clock()
    for action in mapped.actions:
        if isinstance(action, CustomerSeen):
            _customer(conn, ctx, source, action, out, now)
        elif isinstance(action, OrderSeen):
            shop.remember_order(conn, source.id, action.order_id, action.customer, action.name, now)
            out.done.append(f"order {action.order_id} remembered")
        elif isinstance(action, Shipped):
            _shipped(conn, ctx, source, action, out)
        elif isinstance(action, PriceSeen):
            _price(conn, ctx, source, action, out, now)
        elif isinstance(action, Redact):
            out.done.append(privacy.redact(conn, ctx, source, action, actor_of(source), now))
        elif isinstance(action, DataRequest):
            out.done.append(privacy.data_request(conn, ctx, source, action, actor_of(source), now))
        else:
            assert isinstance(action, Ignored)
            out.ignored.append(f"{action.topic}: {action.reason}")
    if out.ignored:
        data = {"topic": mapped.topic, "ignored": out.ignored, "done": out.done}
        event = audit.Event(actor_of(source), "integration.ignored", f"source:{source.name}", data)
        audit.append(conn, [event], now)
        log.info("%s %s: ignored: %s", source.name, mapped.topic, "; ".join(out.ignored))
    return out.body()


def _customer(
    conn: Connection,
    ctx: ShopContext,
    source: source_rows.Source,
    seen: CustomerSeen,
    out: Outcome,
    now: datetime,
) -> None:
    record = parse(CustomerIn, seen.data, prefix="customer").to_record()
    actor = actor_of(source)
    if seen.only_if_new:
        try:
            out.customer_ids.append(customers.customer_id_for(conn, record.external_id))
            return
        except NotFoundError:  # a customer new to us: created below
            pass
    cid, _created = customers.upsert_customer(
        conn, record, now=now, actor=actor, source=actor, erasure_key=ctx.erasure_key
    )
    out.customer_ids.append(cid)
    if seen.dropped:
        out.ignored.append(f"customer {record.external_id}: unusable {', '.join(seen.dropped)}")
    ledger = customers.consent_records(conn, cid)
    for change in seen.consents:
        latest = next(
            (
                r
                for r in reversed(ledger)
                if r.channel == change.channel and r.purpose == change.purpose
            ),
            None,
        )
        if latest is not None and latest.action == change.action:
            continue  # the same state again (an update that did not touch consent)
        customers.add_consent(
            conn,
            cid,
            change.channel,
            change.purpose,
            change.action,
            source=f"{source.kind}:{source.name}",
            evidence=change.evidence,
            actor=actor,
            now=now,
        )
        out.done.append(
            f"consent {change.channel.value}:{change.purpose.value} {change.action.value}"
        )


def _parcels(
    conn: Connection, source: source_rows.Source, s: Shipped
) -> list[tuple[Kind, str, dict[str, Any], str]] | None:
    """One notify event per parcel, for the order's customer (None: the order is unknown)."""
    known = shop.order_of(conn, source.id, s.order_id)
    who = s.customer or (known[0] if known else None)
    if who is None:
        return None
    shown = s.order_name or (known[1] if known and known[1] else None) or s.order_id
    actor = actor_of(source)
    return [
        (
            Kind.SHIPPING,
            who,
            {
                "order_id": shown,
                "carrier": p.carrier,
                "tracking_no": p.tracking_no,
                "shipment_id": p.shipment_id,
                **({"tracking_url": p.tracking_url} if p.tracking_url else {}),
            },
            actor,
        )
        for p in s.parcels
    ]


def _shipped(
    conn: Connection, ctx: ShopContext, source: source_rows.Source, s: Shipped, out: Outcome
) -> None:
    events = _parcels(conn, source, s)
    if events is None:
        out.ignored.append(f"order {s.order_id}: not seen before, its customer is unknown")
        return
    done = notify.notify_many(conn, ctx.send, events, ref_field="customer")
    problems = [p for d in done if isinstance(d, ValidationError) for p in d.problems]
    if problems:
        raise ValidationError(problems)
    out.notification_ids += [d.notification_id for d in done if not isinstance(d, ValidationError)]


def ship_many(
    conn: Connection, ctx: ShopContext, items: Sequence[tuple[source_rows.Source, Mapped]]
) -> list[dict[str, Any] | ValidationError | None]:
    """Many deliveries that are each one ``Shipped`` of one parcel (``fulfillments/create|
    update``), answered as ``apply`` would one after the other, with one ``notify_many`` (one
    customer lookup, one enqueue and audit append per source); a refused one wrote nothing.
    None: leave that delivery to ``apply`` (an unknown order, recorded as ignored there; more
    than one parcel)."""
    out: list[dict[str, Any] | ValidationError | None] = [None] * len(items)
    events: list[tuple[Kind, str, dict[str, Any], str]] = []
    owner: list[int] = []
    for i, (source, mapped) in enumerate(items):
        (shipped,) = mapped.actions
        assert isinstance(shipped, Shipped)
        found = _parcels(conn, source, shipped) if len(shipped.parcels) == 1 else None
        if found is not None:
            events += found
            owner += [i] * len(found)
            out[i] = Outcome(mapped.topic).body()
    done = notify.notify_many(conn, ctx.send, events, ref_field="customer")
    for i, d in zip(owner, done, strict=True):
        answer = out[i]
        if isinstance(d, ValidationError):
            out[i] = d
        elif isinstance(answer, dict):
            answer["notification_ids"].append(d.notification_id)
    return out


def _price(
    conn: Connection,
    ctx: ShopContext,
    source: source_rows.Source,
    seen: PriceSeen,
    out: Outcome,
    now: datetime,
) -> None:
    before = shop.last_price(conn, source.id, seen.sku)
    shop.remember_price(conn, source.id, seen.sku, seen.price, seen.title, seen.url, now)
    if before is None or seen.price >= before:
        word = "first seen" if before is None else "not lower"
        out.done.append(f"price of {seen.sku} {word}: {seen.price}")
        return
    payload = {
        "sku": seen.sku,
        "title": seen.title,
        "old_price": str(before),
        "new_price": str(seen.price),
        "currency": source.currency or "EUR",
        "url": seen.url,
    }
    actor = actor_of(source)
    done = notify.price_drop_fanout(conn, ctx.send, payload, source=actor, actor=actor)
    out.notification_ids += [d.notification_id for d in done]
    out.done.append(f"price of {seen.sku} dropped {before} -> {seen.price}")
