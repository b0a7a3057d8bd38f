"""What a platform's webhook means to outbound: the actions the mappings return, pure values.

A customer is known to outbound by ``<source name>:<platform customer id>`` (``ref``), so two
shops with the same numbering never share a customer, and ``shop/redact`` finds a shop's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from outbound.domain.values import Channel, ConsentAction, Purpose


def ref(source: str, platform_id: Any) -> str:
    """The customer's external id in outbound for a platform's customer id."""
    return f"{source}:{platform_id}"


@dataclass(frozen=True)
class ConsentChange:
    """A consent-ledger entry the platform reported, with its evidence."""

    channel: Channel
    purpose: Purpose
    action: ConsentAction
    evidence: str


@dataclass(frozen=True)
class CustomerSeen:
    """A customer upsert: ``data`` in the ``customer.upserted`` shape (``CustomerIn``).
    ``only_if_new``: an order's embedded customer creates one we do not know, never overwrites."""

    data: dict[str, Any]
    consents: tuple[ConsentChange, ...] = ()
    only_if_new: bool = False
    #: fields left out because the platform's value is unusable (``phone``: not a number)
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderSeen:
    order_id: str
    customer: str  # ``ref`` of its customer
    name: str | None = None  # what the shop shows (``#1001``); the id when None


@dataclass(frozen=True)
class Parcel:
    """One fulfillment (one parcel) of an order: one shipping notification."""

    shipment_id: str
    carrier: str
    tracking_no: str
    tracking_url: str | None = None


@dataclass(frozen=True)
class Shipped:
    order_id: str
    parcels: tuple[Parcel, ...]
    order_name: str | None = None  # the order's name when the payload gives it
    customer: str | None = None  # when the payload names it; else from the order map


@dataclass(frozen=True)
class PriceSeen:
    sku: str
    price: Decimal
    title: str
    url: str


@dataclass(frozen=True)
class Redact:
    """Erase one customer (``customers/redact``), or the whole shop's data (``customer`` None)."""

    customer: str | None
    orders: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataRequest:
    customer: str
    request_id: str


@dataclass(frozen=True)
class Ignored:
    """Nothing to do; answered 200 and recorded, so the platform neither retries nor disables."""

    topic: str
    reason: str


Action = CustomerSeen | OrderSeen | Shipped | PriceSeen | Redact | DataRequest | Ignored


@dataclass(frozen=True)
class Mapped:
    topic: str
    actions: tuple[Action, ...] = field(default_factory=tuple)
