"""A notification's dedupe key: the same event for the same customer names the same key, so a
repeated webhook, a retried import or a campaign run again returns the notification it made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outbound.domain.values import Kind


def dedupe_key(kind: Kind, customer_id: int, payload: Mapping[str, Any]) -> str:
    """The key of ``kind`` for this customer and payload (in its stored form)."""
    if kind is Kind.SHIPPING:
        shipment = payload.get("shipment_id") or payload["tracking_no"]
        return f"shipping:{customer_id}:{payload['order_id']}:{shipment}"
    if kind is Kind.RENEWAL:
        return f"renewal:{customer_id}:{payload['expires_on']}"
    return f"price_drop:{customer_id}:{payload['sku']}:{payload['new_price']}"
