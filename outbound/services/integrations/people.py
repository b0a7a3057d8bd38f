"""A platform's customer (Shopify's customer, WooCommerce's billing address) in our shape.

Pure: the dict is what ``customer.upserted`` carries (``CustomerIn``), so the same rules judge
it. The time zone is left to the phone and the address, as for any customer without one: the
country from the phone (the address's when there is no phone) and, in the US, the state from the
address; an ambiguous number fails closed in the quiet-hours rule as it does today.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outbound.domain.us_states import STATE_CODES
from outbound.schemas.customers import e164_of, region_of


def text(value: Any, limit: int = 200) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def full_name(first: Any, last: Any) -> str:
    return " ".join(p for p in (text(first), text(last)) if p)[:200]


def contact(
    external_id: str,
    name: str,
    phone: Any,
    country_code: Any,
    province_code: Any,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(the ``CustomerIn`` fields, the fields dropped as unusable). A phone that is not a valid
    number is left out (``phone`` dropped) rather than refusing the whole customer."""
    address_country = text(country_code, 2).upper() or None
    phone_e164 = e164_of(phone, address_country)
    dropped = ("phone",) if text(phone) and phone_e164 is None else ()
    country = region_of(phone_e164) or address_country
    data: dict[str, Any] = {"external_id": external_id}
    if name:
        data["name"] = name
    if phone_e164:
        data["phone"] = phone_e164
    if country and country.isalpha() and len(country) == 2:
        data["country"] = country
        state = text(province_code, 2).upper()
        if country == "US" and state in STATE_CODES:
            data["state"] = state
    return data, dropped


def address(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    found = payload.get(key)
    return found if isinstance(found, Mapping) else {}
