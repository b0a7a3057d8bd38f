"""What each notification kind carries: one model per kind, for the API, CLI, campaigns and demo.

A payload is stored as ``as_dict()`` gives it (dates ISO, prices as plain decimal strings), so
the same event spelt ``"15.50"`` or ``15.5`` gets the same dedupe key.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from pydantic import ValidationInfo, field_validator

from outbound.domain.values import Kind
from outbound.schemas.base import (
    Currency,
    Flag,
    IsoDate,
    Price,
    Schema,
    Text,
    Token,
    Url,
    invalid,
    parse,
    plain,
)


class Payload(Schema):
    kind: ClassVar[Kind]

    def as_dict(self) -> dict[str, Any]:
        """The stored form: JSON values, absent optionals left out, envelope fields dropped."""
        own = set(PAYLOADS[self.kind].model_fields)
        return self.model_dump(mode="json", include=own, exclude_none=True)


class ShippingPayload(Payload):
    label = "shipping"
    kind = Kind.SHIPPING
    order_id: Token
    carrier: Text
    tracking_no: Token
    #: the expected delivery date; absent where the platform gives none (Shopify, WooCommerce)
    eta: IsoDate | None = None
    shipment_id: Token | None = None
    signature_required: Flag | None = None
    #: the carrier's tracking page, where the platform gives one
    tracking_url: Url | None = None


class RenewalPayload(Payload):
    label = "renewal"
    kind = Kind.RENEWAL
    tier: Text
    expires_on: IsoDate
    renew_url: Url


class PriceFields(Schema):
    """What a price drop says about the item; campaigns take these as their params."""

    title: Text
    old_price: Price
    new_price: Price
    currency: Currency
    url: Url

    @field_validator("new_price")
    @classmethod
    def _lower(cls, new: Decimal, info: ValidationInfo) -> Decimal:
        old = info.data.get("old_price")
        if old is not None and new >= old:
            raise invalid(f"is not lower than old_price {plain(old)}", plain(new))
        return new


class PriceDropPayload(Payload, PriceFields):
    label = "price_drop"
    kind = Kind.PRICE_DROP
    sku: Token


PAYLOADS: dict[Kind, type[Payload]] = {
    Kind.SHIPPING: ShippingPayload,
    Kind.RENEWAL: RenewalPayload,
    Kind.PRICE_DROP: PriceDropPayload,
}


def parse_payload(kind: Kind, raw: Any) -> Payload:
    """The payload model for ``kind``; a model of that kind (an API event's data) passes as is."""
    model = PAYLOADS[kind]
    if isinstance(raw, model):
        return raw
    return parse(model, raw, prefix="data")


def validate_payload(kind: Kind, raw: Any) -> dict[str, Any]:
    """Normalized payload, or ValidationError naming every bad field (``data.<name>``)."""
    return parse_payload(kind, raw).as_dict()
