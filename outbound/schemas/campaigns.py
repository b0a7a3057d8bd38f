"""A campaign's definition: its name, zone, customer segment and payload params, per kind.

Renewal campaigns select by membership expiry and need a renewal URL; price-drop campaigns
select by wishlist SKU and carry what the item's payload says (title, prices, currency, URL).
Shipping is event-driven only: it has no campaign model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints
from pydantic import ValidationError as PydanticError

from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import Kind
from outbound.schemas.base import Schema, Text, Url, Zone, invalid, problems
from outbound.schemas.customers import Country, Sku
from outbound.schemas.payloads import PriceFields

Days = Annotated[int, Field(ge=0, le=366, description="Members whose expiry is within N days")]


class Segment(Schema):
    """Which customers a run selects; every key narrows the selection."""

    label = "segment"
    expires_within_days: Days | None = None
    tiers: list[Text] = Field(default_factory=list, max_length=50)
    countries: list[Country] = Field(default_factory=list, max_length=250)
    wishlist_sku: Sku | None = None


class RenewalSegment(Segment):
    label = "renewal segment"
    expires_within_days: Days


class PriceDropSegment(Segment):
    label = "price_drop segment"
    wishlist_sku: Sku


#: the one placeholder a renewal URL may hold, and every brace construct (to refuse the rest)
PLACEHOLDER = "{external_id}"
_BRACES = re.compile(r"\{[^{}]*\}|[{}]")


def _one_placeholder(url: str) -> str:
    """Only ``{external_id}`` is replaced: ``{phone}``, ``{0}`` or a stray brace would reach
    every customer's message as written, so they are refused when the campaign is made."""
    for token in _BRACES.findall(url):
        if token != PLACEHOLDER:
            raise invalid(
                f"has {token!r}, which is not replaced; only {PLACEHOLDER} is "
                "(percent-encode a literal brace as %7B / %7D)",
                url,
            )
    return url


class RenewalParams(Schema):
    label = "renewal params"
    renew_url: Annotated[Url, AfterValidator(_one_placeholder)] = Field(
        examples=["https://shop.example/renew?c={external_id}"],
        description="{external_id} is replaced per customer (the only placeholder)",
    )
    tier: Text | None = None


class PriceDropParams(PriceFields):
    label = "price_drop params"


def _printable_name(name: str) -> str:
    """A name is typed in commands and shown in tables: no control or format characters."""
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name) or name != name.strip():
        raise invalid(
            "has control characters or surrounding spaces; use plain text like gold-renewals"
        )
    if name.isdigit():  # `campaign preview 12` means campaign id 12
        raise invalid("is all digits, which commands read as a campaign id; add a letter, like q12")
    return name


class CampaignFields(Schema):
    label = "campaign"
    name: Annotated[
        str,
        StringConstraints(min_length=1, max_length=128),
        AfterValidator(_printable_name),
    ]
    timezone: Zone


class RenewalCampaign(CampaignFields):
    segment: RenewalSegment
    params: RenewalParams


class PriceDropCampaign(CampaignFields):
    segment: PriceDropSegment
    params: PriceDropParams


CAMPAIGNS: dict[Kind, type[CampaignFields]] = {
    Kind.RENEWAL: RenewalCampaign,
    Kind.PRICE_DROP: PriceDropCampaign,
}


def parse_campaign(
    kind: Kind,
    name: str,
    timezone: str,
    segment: Mapping[str, Any],
    params: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The normalized (segment, params) to store, or ValidationError naming every bad field."""
    found: list[FieldProblem] = []
    model = CAMPAIGNS.get(kind)
    raw: dict[str, Any] = {"name": name, "timezone": timezone, "segment": segment, "params": params}
    if model is None:
        found.append(FieldProblem("kind", kind.value, "is event-driven; use renewal or price_drop"))
        model, raw = CampaignFields, {"name": name, "timezone": timezone}
    try:
        spec = model.model_validate(raw)
    except PydanticError as exc:
        found += problems(exc, model)
    if found:
        raise ValidationError(found, where=f"campaign {name!r}")
    dump = spec.model_dump(mode="json", exclude_unset=True)
    return dump["segment"], dump["params"]
