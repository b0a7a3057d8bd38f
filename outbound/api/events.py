"""Typed webhook events and what each one does — through the same triggers as the CLI.

The pydantic models give the structure (and the OpenAPI schema); the meaning (E.164, dates,
prices, URLs) is checked by the same validators the CLI and imports use, so one rule set holds
everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import Connection, select

from outbound.bootstrap.app import App
from outbound.domain.errors import FieldProblem, NotFoundError, ValidationError
from outbound.domain.values import Channel, ConsentAction, Kind, Purpose
from outbound.schemas.customers import validate_record
from outbound.services import notify
from outbound.store.customers import add_consent, customer_id_for, upsert_customer
from outbound.store.tables import customers

Strict = ConfigDict(extra="forbid")
Text = Annotated[str, Field(min_length=1, max_length=200)]


class ShippingData(BaseModel):
    model_config = Strict
    customer: Text = Field(description="The customer's external id")
    order_id: Text
    carrier: Text
    tracking_no: Text
    eta: Text = Field(description="YYYY-MM-DD")
    shipment_id: Text | None = None
    signature_required: bool | None = None


class MembershipData(BaseModel):
    model_config = Strict
    customer: Text
    tier: Text
    expires_on: Text = Field(description="YYYY-MM-DD")
    renew_url: Annotated[str, Field(max_length=2000)]


class PriceData(BaseModel):
    model_config = Strict
    sku: Text
    title: Text
    old_price: str | float
    new_price: str | float
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    url: Annotated[str, Field(max_length=2000)]


class PushKeys(BaseModel):
    """A browser's PushSubscription.keys (RFC 8291), base64url."""

    model_config = Strict
    p256dh: Annotated[str, Field(min_length=1, max_length=200)]
    auth: Annotated[str, Field(min_length=1, max_length=100)]


class PushSubscription(BaseModel):
    model_config = Strict
    kind: Literal["fcm", "webpush"]
    endpoint: Annotated[str, Field(min_length=1, max_length=2000)]
    keys: PushKeys | None = Field(None, description="Web Push only: p256dh and auth")


class Membership(BaseModel):
    model_config = Strict
    tier: Text
    expires_on: Text


class CustomerData(BaseModel):
    model_config = Strict
    external_id: Text
    name: Annotated[str, Field(max_length=200)] = ""
    phone: Annotated[str, Field(max_length=20)] | None = Field(
        None, description="E.164, e.g. +14155550123"
    )
    timezone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] = "en-US"
    country: Annotated[str, Field(max_length=2)] | None = None
    preference: list[Channel] = Field(default_factory=list, max_length=3)
    push_subscriptions: list[PushSubscription] = Field(default_factory=list, max_length=10)
    membership: Membership | None = None
    wishlist: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=500
    )


class ConsentData(BaseModel):
    model_config = Strict
    customer: Text
    action: ConsentAction
    channel: Channel | Literal["all"]
    purpose: Purpose | Literal["all"]
    source: Text
    evidence: Annotated[str, Field(max_length=2000)] = ""
    written: bool = False


class ShippingDispatched(BaseModel):
    model_config = Strict
    type: Literal["shipping.dispatched"]
    data: ShippingData


class MembershipExpiring(BaseModel):
    model_config = Strict
    type: Literal["membership.expiring"]
    data: MembershipData


class PriceDropped(BaseModel):
    model_config = Strict
    type: Literal["price.dropped"]
    data: PriceData


class CustomerUpserted(BaseModel):
    model_config = Strict
    type: Literal["customer.upserted"]
    data: CustomerData


class ConsentChanged(BaseModel):
    model_config = Strict
    type: Literal["consent.changed"]
    data: ConsentData


Event = Annotated[
    ShippingDispatched | MembershipExpiring | PriceDropped | CustomerUpserted | ConsentChanged,
    Field(discriminator="type"),
]
EVENT = TypeAdapter(Event)


def _notify(
    conn: Connection, app: App, kind: Kind, ref: str, payload: dict[str, Any], source: str
) -> dict[str, Any]:
    now = app.clock()
    cid = _customer(conn, ref)
    tz = conn.execute(select(customers.c.timezone).where(customers.c.id == cid)).scalar_one()
    req = notify.prepare(kind, cid, tz, payload, now=now, expiry=app.expiry, source=source)
    (done,) = notify.enqueue(conn, [req], rules=app.rules, now=now, actor=source)
    return {"notification_ids": [done.notification_id], "created": done.created}


def _customer(conn: Connection, ref: str) -> int:
    try:
        return customer_id_for(conn, ref)
    except NotFoundError:  # a field problem the sender can fix
        raise ValidationError(
            [
                FieldProblem(
                    "data.customer", ref, "is not a known customer; send customer.upserted first"
                )
            ]
        ) from None


def handle(conn: Connection, app: App, event: Any, source: str) -> dict[str, Any]:
    """Apply one validated event in the caller's transaction; returns the response body."""
    actor = f"webhook:{source}"
    if isinstance(event, ShippingDispatched):
        data = event.data.model_dump(exclude={"customer"}, exclude_none=True)
        return _notify(conn, app, Kind.SHIPPING, event.data.customer, data, actor)
    if isinstance(event, MembershipExpiring):
        data = event.data.model_dump(exclude={"customer"})
        return _notify(conn, app, Kind.RENEWAL, event.data.customer, data, actor)
    if isinstance(event, PriceDropped):
        done = notify.price_drop_fanout(
            conn,
            event.data.model_dump(),
            rules=app.rules,
            now=app.clock(),
            expiry=app.expiry,
            source=actor,
            actor=actor,
        )
        return {
            "notification_ids": [d.notification_id for d in done],
            "created": any(d.created for d in done),
        }
    if isinstance(event, CustomerUpserted):
        return _upsert(conn, app, event.data, actor)
    assert isinstance(event, ConsentChanged)
    return _consent(conn, app, event.data, actor)


def _upsert(conn: Connection, app: App, data: CustomerData, actor: str) -> dict[str, Any]:
    raw = data.model_dump(
        exclude={"membership", "preference", "push_subscriptions"}, exclude_none=True
    )
    raw["preference"] = [c.value for c in data.preference]
    raw["push_subscriptions"] = [p.model_dump(exclude_none=True) for p in data.push_subscriptions]
    if data.membership:
        raw["membership_tier"], raw["membership_expires_on"] = (
            data.membership.tier,
            data.membership.expires_on,
        )
    try:
        record = validate_record(raw)
    except ValidationError as exc:
        raise ValidationError(
            [FieldProblem(f"data.{p.field}", p.value, p.hint) for p in exc.problems]
        ) from None
    cid, created = upsert_customer(conn, record, now=app.clock(), actor=actor, source=actor)
    return {"customer_id": cid, "created": created}


def _consent(conn: Connection, app: App, data: ConsentData, actor: str) -> dict[str, Any]:
    cid = _customer(conn, data.customer)
    channel = None if data.channel == "all" else Channel(data.channel)
    purpose = None if data.purpose == "all" else Purpose(data.purpose)
    add_consent(
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
