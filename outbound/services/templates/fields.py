"""What a template of each kind may read, and the payloads lint and preview render with.

The fields are the payload model's (``outbound.schemas.payloads``) plus ``brand`` (every text)
and ``footer`` (SMS). ``SAMPLE`` is an ordinary payload; ``LONGEST`` a realistic longest one
(a long product title, a long tracking URL) for the SMS part check — not the schema's maxima,
which no shop sends.
"""

from __future__ import annotations

from typing import Any

from outbound.domain.values import Channel, Kind
from outbound.schemas.payloads import PAYLOADS

#: every payload field per kind, and those a payload may leave out
FIELDS: dict[str, tuple[str, ...]] = {k.value: tuple(PAYLOADS[k].model_fields) for k in Kind}
OPTIONAL: dict[str, frozenset[str]] = {
    k.value: frozenset(n for n, f in PAYLOADS[k].model_fields.items() if not f.is_required())
    for k in Kind
}
FOOTER_FIELDS = ("brand",)

SAMPLE: dict[str, dict[str, Any]] = {
    "shipping": {
        "order_id": "A1001",
        "carrier": "DHL",
        "tracking_no": "JD0001",
        "eta": "2026-12-09",
    },
    "renewal": {"tier": "Gold", "expires_on": "2026-12-09", "renew_url": "https://shop.example/r"},
    "price_drop": {
        "sku": "K-1",
        "title": "Kettle",
        "old_price": "119.90",
        "new_price": "99.90",
        "currency": "EUR",
        "url": "https://shop.example/k",
    },
}

LONGEST: dict[str, dict[str, Any]] = {
    "shipping": {
        "order_id": "ORD-2026-0012345678",
        "carrier": "Deutsche Post DHL Parcel",
        "tracking_no": "JJD000390007788812345",
        "eta": "2026-09-30",
        "shipment_id": "SHP-0012345678",
        "signature_required": True,
        "tracking_url": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"
        "?piececode=JJD000390007788812345",
    },
    "renewal": {
        "tier": "Premium Plus",
        "expires_on": "2026-09-30",
        "renew_url": "https://shop.example.com/account/membership/renew?c=AB12CD34",
    },
    "price_drop": {
        "sku": "SKU-0012345678",
        "title": "Stainless Steel Electric Kettle 1.7 L with Temperature Control",
        "old_price": "1249.99",
        "new_price": "999.99",
        "currency": "EUR",
        "url": "https://shop.example.com/p/stainless-kettle-1-7l?utm_source=sms",
    },
}


def allowed(folder: str, channel: Channel) -> frozenset[str]:
    """The names a template in ``folder`` for ``channel`` may read."""
    if folder not in FIELDS:
        return frozenset(FOOTER_FIELDS)
    extra = {"brand", "footer"} if channel is Channel.SMS else {"brand"}
    return frozenset(FIELDS[folder]) | extra
