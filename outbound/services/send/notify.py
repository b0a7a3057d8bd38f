"""Events become notifications: the one send path of the CLI, the webhooks, campaigns and demo.

``notify`` (one customer by reference), ``notify_all`` (known customers, e.g. a campaign's
chunk) and ``price_drop_fanout`` (everyone wishing for a SKU) all validate the payload with the
shared model, build the request (dedupe key, expiry) and ``enqueue`` it, so a repeated event
returns the existing notification and never sends twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from outbound.domain.dedupe import dedupe_key
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import KIND_PURPOSE, Channel, Kind
from outbound.policy.model import Rules
from outbound.schemas.payloads import Payload, validate_payload
from outbound.services.send import planning
from outbound.services.send.context import Expiry as Expiry
from outbound.services.send.context import SendContext as SendContext
from outbound.services.templates.sizes import check_sizes
from outbound.store.customers import customers_with_sku
from outbound.store.notifications import Enqueued as Enqueued
from outbound.store.notifications import NewNotification as NewNotification
from outbound.store.snapshots import recipients_by_ref, send_view_by_ref

UNKNOWN_CUSTOMER = (
    "is not a known customer; add it first (outbound customer import, or a customer.upserted event)"
)


def parse_kind(raw: str) -> Kind:
    try:
        return Kind(raw)
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise ValidationError(
            [FieldProblem("kind", raw, f"is not a notification kind; use {known}")]
        ) from None


@dataclass(frozen=True)
class Recipient:
    """A customer already looked up: its id and (for renewal expiry) its time zone."""

    id: int
    timezone: str | None = None


def prepare(
    kind: Kind,
    customer_id: int,
    customer_tz: str | None,
    raw_payload: Mapping[str, Any] | Payload,
    *,
    now: datetime,
    expiry: Expiry,
    source: str,
    campaign_id: int | None = None,
    channels: tuple[Channel, ...] | None = None,
) -> NewNotification:
    """The request for one customer (validated payload, dedupe key, expiry); writes nothing."""
    body = validate_payload(kind, raw_payload)
    return _request(
        kind,
        Recipient(customer_id, customer_tz),
        body,
        now=now,
        expiry=expiry,
        source=source,
        campaign_id=campaign_id,
        channels=channels,
    )


def _request(
    kind: Kind,
    who: Recipient,
    body: dict[str, Any],
    *,
    now: datetime,
    expiry: Expiry,
    source: str,
    campaign_id: int | None = None,
    channels: tuple[Channel, ...] | None = None,
) -> NewNotification:
    """``prepare`` for a payload already validated and in its stored form."""
    return NewNotification(
        kind=kind,
        purpose=KIND_PURPOSE[kind],
        customer_id=who.id,
        payload=body,
        dedupe_key=dedupe_key(kind, who.id, body),
        expires_at=expiry.expires_at(kind, body, now, who.timezone),
        source=source,
        campaign_id=campaign_id,
        channels=channels,
    )


def enqueue(
    conn: Connection,
    items: Sequence[NewNotification],
    *,
    rules: Rules,
    now: datetime,
    actor: str,
) -> list[Enqueued]:
    """Plan and store notifications in the caller's transaction; duplicates return the original."""
    return planning.enqueue(conn, items, rules=rules, now=now, actor=actor)


def notify_all(
    conn: Connection,
    ctx: SendContext,
    *,
    kind: Kind,
    items: Iterable[tuple[Recipient, Mapping[str, Any] | Payload]],
    source: str,
    actor: str,
    now: datetime,
    campaign_id: int | None = None,
    channels: tuple[Channel, ...] | None = None,
) -> list[Enqueued]:
    """Validate, build and enqueue one notification per (recipient, payload), in one call;
    ``now`` is the moment the batch counts from (one campaign run stamps all its chunks)."""
    requests = [
        prepare(
            kind,
            who.id,
            who.timezone,
            payload,
            now=now,
            expiry=ctx.expiry,
            source=source,
            campaign_id=campaign_id,
            channels=channels,
        )
        for who, payload in items
    ]
    return enqueue(conn, requests, rules=ctx.rules, now=now, actor=actor)


def recipient(conn: Connection, ref: str, *, field: str = "customer") -> Recipient:
    """Resolve an external id (or ``#<id>``); an unknown one is a problem of ``field``."""
    found = recipients(conn, [ref], field=field)[ref]
    if isinstance(found, FieldProblem):  # a field problem the sender can fix
        raise ValidationError([found])
    return found


def recipients(
    conn: Connection, refs: Iterable[str], *, field: str = "customer"
) -> dict[str, Recipient | FieldProblem]:
    """``recipient`` for many references, in one store call."""
    wanted = set(refs)
    found = recipients_by_ref(conn, wanted)
    return {
        ref: Recipient(*found[ref]) if ref in found else FieldProblem(field, ref, UNKNOWN_CUSTOMER)
        for ref in wanted
    }


def _valid(kind: Kind, payload: Mapping[str, Any] | Payload, ctx: SendContext) -> dict[str, Any]:
    """The payload validated once, in its stored form, refused when its message is too long."""
    body = validate_payload(kind, payload)
    check_sizes(kind, body, ctx.limits)
    return body


def _checked(
    kind: Kind, payload: Mapping[str, Any] | Payload, ctx: SendContext
) -> dict[str, Any] | list[FieldProblem]:
    """``_valid``'s stored payload, or its problems."""
    try:
        return _valid(kind, payload, ctx)
    except ValidationError as exc:
        return exc.problems


def notify(
    conn: Connection,
    ctx: SendContext,
    *,
    kind: Kind,
    customer_ref: str,
    payload: Mapping[str, Any] | Payload,
    source: str,
    actor: str,
    channels: tuple[Channel, ...] | None = None,
    ref_field: str = "customer",
) -> list[Enqueued]:
    """One event for one customer, in the caller's transaction.

    An unknown customer is a problem of ``ref_field``, reported together with the payload's
    (and with a message too long to send, ``ctx.limits``).
    """
    (done,) = notify_many(
        conn,
        ctx,
        [(kind, customer_ref, payload, source)],
        actor=actor,
        channels=channels,
        ref_field=ref_field,
    )
    if isinstance(done, ValidationError):
        raise done
    return [done]


def notify_many(
    conn: Connection,
    ctx: SendContext,
    events: Sequence[tuple[Kind, str, Mapping[str, Any] | Payload, str]],
    *,
    actor: str | None = None,
    channels: tuple[Channel, ...] | None = None,
    ref_field: str = "customer",
) -> list[Enqueued | ValidationError]:
    """Many (kind, customer reference, payload, source) events in the caller's transaction,
    answered as ``notify`` would one after the other: the payloads checked first, then one
    read (``store.snapshots.send_view_by_ref``: the customers, the dedupe keys already stored,
    what the policy needs) and one write (so one audit append) per source, named as the actor
    unless ``actor`` is given. Of
    several events for one notification the first creates it and the others get it with
    ``created`` false. An unknown customer or a bad payload fails only its own event.
    """
    now = ctx.clock()
    bodies = [_checked(kind, payload, ctx) for kind, _, payload, _ in events]
    valid = [
        (ref, kind, body)
        for (kind, ref, _, _), body in zip(events, bodies, strict=True)
        if isinstance(body, dict)
    ]
    view = send_view_by_ref(conn, [ref for _, ref, _, _ in events], valid)
    out: list[Enqueued | ValidationError] = [ValidationError([])] * len(events)
    by_actor: dict[str, list[tuple[int, NewNotification]]] = {}
    for i, ((kind, ref, _, source), body) in enumerate(zip(events, bodies, strict=True)):
        who = view.recipients.get(ref)
        problems = [] if who else [FieldProblem(ref_field, ref, UNKNOWN_CUSTOMER)]
        if not isinstance(body, dict) or who is None:
            out[i] = ValidationError(problems + ([] if isinstance(body, dict) else body))
            continue
        item = _request(
            kind,
            Recipient(*who),
            body,
            now=now,
            expiry=ctx.expiry,
            source=source,
            channels=channels,
        )
        by_actor.setdefault(actor or source, []).append((i, item))
    stored: dict[str, int] = {}  # written by an earlier source of this batch
    for name, items in by_actor.items():
        first: dict[str, int] = {}
        for i, item in items:
            first.setdefault(item.dedupe_key, i)
        unique = [item for i, item in items if first[item.dedupe_key] == i]
        done = {
            e.dedupe_key: e
            for e in planning.commit(
                conn, unique, view, rules=ctx.rules, now=now, actor=name, known=stored
            )
        }
        stored.update({key: e.notification_id for key, e in done.items()})
        for i, item in items:
            e = done[item.dedupe_key]
            out[i] = replace(e, created=e.created and first[item.dedupe_key] == i)
    return out


def price_drop_fanout(
    conn: Connection,
    ctx: SendContext,
    raw_payload: Mapping[str, Any] | Payload,
    *,
    source: str,
    actor: str,
) -> list[Enqueued]:
    """One ``price.dropped`` event per SKU -> one notification per customer wishing for it.

    Deduplicated per customer x SKU x new price, so a repeated event notifies nobody twice.
    A message too long to send (``ctx.limits``) is refused before anyone is looked up.
    """
    now = ctx.clock()
    body = _valid(Kind.PRICE_DROP, raw_payload, ctx)
    requests = [
        _request(Kind.PRICE_DROP, Recipient(cid), body, now=now, expiry=ctx.expiry, source=source)
        for cid in customers_with_sku(conn, body["sku"])
    ]
    return enqueue(conn, requests, rules=ctx.rules, now=now, actor=actor)
