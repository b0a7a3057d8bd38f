"""Typed webhook events and what each one does — through the same send path as the CLI.

The envelopes (``type`` discriminator) live here; their ``data`` are the shared input models
of ``outbound.schemas``, so the OpenAPI document, the CLI and file imports hold one rule set
and reject bad input with the same field, value and hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, TypeAdapter
from pydantic import ValidationError as PydanticError
from sqlalchemy import Connection

from outbound.api.deps import ApiDeps
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import Channel, ConsentAction, Kind, Purpose
from outbound.schemas.base import Schema, Text, problems
from outbound.schemas.customers import CustomerIn
from outbound.schemas.payloads import PriceDropPayload, RenewalPayload, ShippingPayload
from outbound.services.people import customers
from outbound.services.people.endpoints import endpoint_problems
from outbound.services.send import notify

CustomerRef = Annotated[Text, Field(description="The customer's external id")]


class ShippingData(ShippingPayload):
    customer: CustomerRef


class MembershipData(RenewalPayload):
    customer: CustomerRef


class ConsentData(Schema):
    label = "consent"
    customer: CustomerRef
    action: ConsentAction
    channel: Channel | Literal["all"]
    purpose: Purpose | Literal["all"]
    source: Text
    evidence: Annotated[str, Field(max_length=2000)] = ""
    written: bool = False


class ShippingDispatched(Schema):
    type: Literal["shipping.dispatched"]
    data: ShippingData


class MembershipExpiring(Schema):
    type: Literal["membership.expiring"]
    data: MembershipData


class PriceDropped(Schema):
    type: Literal["price.dropped"]
    data: PriceDropPayload


class CustomerUpserted(Schema):
    type: Literal["customer.upserted"]
    data: CustomerIn


class ConsentChanged(Schema):
    type: Literal["consent.changed"]
    data: ConsentData


EVENTS: tuple[type[BaseModel], ...] = (
    ShippingDispatched,
    MembershipExpiring,
    PriceDropped,
    CustomerUpserted,
    ConsentChanged,
)
Event = Annotated[
    ShippingDispatched | MembershipExpiring | PriceDropped | CustomerUpserted | ConsentChanged,
    Field(discriminator="type"),
]
EVENT = TypeAdapter(Event)
#: type tag -> envelope model, for naming the fields of a failed parse
BY_TYPE: dict[str, type[BaseModel]] = {
    get_args(m.model_fields["type"].annotation)[0]: m for m in EVENTS
}


def actor_of(source: str) -> str:
    """How a source is named as the actor and the ``source`` of what its events create (the
    owner a notification is shown to)."""
    return f"webhook:{source}"


def event_problems(exc: PydanticError) -> list[FieldProblem]:
    """A failed ``EVENT`` parse as field problems (``data.eta``, ``type``, …)."""
    return problems(exc, BY_TYPE)


def _sent(done: Sequence[notify.Enqueued]) -> dict[str, Any]:
    return {
        "notification_ids": [d.notification_id for d in done],
        "created": any(d.created for d in done),
    }


def handle(conn: Connection, app: ApiDeps, event: Any, source: str) -> dict[str, Any]:
    """Apply one validated event in the caller's transaction; returns the response body."""
    actor = actor_of(source)
    if isinstance(event, (ShippingDispatched, MembershipExpiring)):
        (done,) = notify_many(conn, app, [(event, source)])
        if isinstance(done, ValidationError):
            raise done
        return done
    if isinstance(event, PriceDropped):
        send = app.send_context()
        return _sent(notify.price_drop_fanout(conn, send, event.data, source=actor, actor=actor))
    if isinstance(event, CustomerUpserted):
        record = event.data.to_record()
        refused = endpoint_problems(record, app.push_targets, prefix="data.")
        if refused:
            raise ValidationError(refused)
        try:
            cid, created = customers.upsert_customer(
                conn,
                record,
                now=app.clock(),
                actor=actor,
                source=actor,
                erasure_key=app.erasure_key(),
            )
        except ValidationError as exc:  # an update at odds with what is on file
            raise ValidationError(
                [replace(p, field=f"data.{p.field}") for p in exc.problems]
            ) from None
        return {"customer_id": cid, "created": created}
    assert isinstance(event, ConsentChanged)
    return _consent(conn, app, event.data, actor)


#: events ``notify_many`` applies in bulk (one customer, one notification each)
NOTIFYING = (ShippingDispatched, MembershipExpiring)


def notify_many(
    conn: Connection, app: ApiDeps, batch: Sequence[tuple[Any, str]]
) -> list[dict[str, Any] | ValidationError]:
    """Many ``NOTIFYING`` (event, source) pairs in the caller's transaction, answered as
    ``handle`` would one after the other (``notify.notify_many``: one customer lookup, one
    enqueue per source). An unknown customer fails only its own event.
    """
    done = notify.notify_many(
        conn,
        app.send_context(),
        [
            (_KIND[type(event)], event.data.customer, event.data, actor_of(source))
            for event, source in batch
        ],
        ref_field="data.customer",
    )
    return [d if isinstance(d, ValidationError) else _sent([d]) for d in done]


_KIND: dict[type[BaseModel], Kind] = {
    ShippingDispatched: Kind.SHIPPING,
    MembershipExpiring: Kind.RENEWAL,
}


def _consent(conn: Connection, app: ApiDeps, data: ConsentData, actor: str) -> dict[str, Any]:
    cid = notify.recipient(conn, data.customer, field="data.customer").id
    channel = None if data.channel == "all" else Channel(data.channel)
    purpose = None if data.purpose == "all" else Purpose(data.purpose)
    customers.add_consent(
        conn,
        cid,
        channel,
        purpose,
        data.action,
        source=data.source,
        evidence=data.evidence or f"{data.action.value} via {actor}",
        actor=actor,
        now=app.clock(),
        written=data.written,
    )
    return {"customer_id": cid, "created": True}
