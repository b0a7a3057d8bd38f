"""Customer records: one set of field rules for API upserts and CSV / JSONL imports.

``CustomerIn`` is the JSON shape (the ``customer.upserted`` event's data); ``CustomerRow`` is
the same customer as a file row spells it (lists as ``"push>sms"``, membership and push token in
flat columns, opt-ins). Both give the ``CustomerRecord`` the store takes.

An update changes only what the input names: an absent field is left as it is; ``null`` (JSON)
or an empty cell in a present column (files) clears it. ``CustomerRecord.given`` carries which
profile fields were named, so the store writes those and nothing else.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from outbound.domain.customers import CustomerRecord, OptIn
from outbound.domain.errors import FieldProblem
from outbound.domain.masking import mask_phone
from outbound.domain.us_states import STATE_CODES
from outbound.domain.values import Channel, Purpose
from outbound.schemas.base import IsoDate, Schema, Text, Zone, invalid, matching, parse, split


def _phone(raw: str) -> str:
    """Only strict E.164 is accepted: a number that needs rewriting is refused with its fix."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise invalid("is not a valid E.164 number; expected like +14155550123")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 != raw:
        raise invalid(
            f"is not in E.164 form; write it as {mask_phone(e164)} "
            "(a plus sign and digits only, no spaces or punctuation)"
        )
    return e164


def e164_of(raw: Any, region: str | None = None) -> str | None:
    """A shop's free-text phone (``(555) 625-1199``, read in ``region`` when it has no +) as
    E.164, or None when it is not a valid number — a platform's payload is taken as it comes."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str | None) -> str | None:
    """The ISO country of a valid E.164 number (None for non-geographic +800 and the like)."""
    if not e164:
        return None
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return region if region and region.isalpha() else None


def _channel(value: Any) -> Channel:
    try:
        return Channel(str(value).lower())
    except ValueError:
        raise invalid("is not a channel; use push, sms, voice") from None


def _once(channels: list[Channel]) -> list[Channel]:
    for i, channel in enumerate(channels):
        if channel in channels[:i]:
            raise invalid("is listed twice", channel.value)
    return channels


def _opt_in(value: Any) -> OptIn:
    parts = str(value).lower().split(":")
    written = len(parts) == 3 and parts[2] == "written"
    try:
        if len(parts) not in (2, 3) or (len(parts) == 3 and not written):
            raise ValueError
        return OptIn(Channel(parts[0]), Purpose(parts[1]), written)
    except ValueError:
        raise invalid("expected CHANNEL:PURPOSE[:written], e.g. sms:marketing") from None


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _distinct(skus: list[str]) -> list[str]:
    return list(dict.fromkeys(skus))


def _b64url(size: int, hint: str) -> Any:
    def check(value: str) -> str:
        try:
            decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (ValueError, binascii.Error):
            decoded = b""
        if len(decoded) != size:
            raise invalid(hint)
        return value

    return AfterValidator(check)


Phone = Annotated[
    str, Field(max_length=32, description="E.164, e.g. +14155550123"), AfterValidator(_phone)
]
Locale = Annotated[
    str,
    matching(
        r"^[a-z]{2,3}(-[A-Z]{2}|-[A-Z][a-z]{3})?$",
        "is not a locale; expected like en-US, zh-CN",
        max_length=16,
    ),
]
Country = Annotated[
    str,
    BeforeValidator(_upper),
    matching(r"^[A-Z]{2}$", "is not ISO 3166 alpha-2; e.g. US, DE", max_length=2),
]
Sku = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9._:-]{1,64}$", "is not a SKU (1-64 of A-Z a-z 0-9 . _ : -)", max_length=64
    ),
]
ExternalId = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9._:@-]{1,128}$",
        "is required: 1-128 of A-Z a-z 0-9 . _ : @ -",
        max_length=128,
    ),
    Field(description="Your id for the customer"),
]
Preference = Annotated[
    list[Annotated[Channel, BeforeValidator(_channel)]],
    BeforeValidator(split),
    AfterValidator(_once),
    Field(max_length=3, description='Ranked channels, e.g. ["push", "sms"]'),
]
Wishlist = Annotated[
    list[Sku],
    BeforeValidator(split),
    AfterValidator(_distinct),
    Field(max_length=500),
]


class PushKeys(Schema):
    """A browser's PushSubscription.keys (RFC 8291), base64url."""

    label = "push keys"
    p256dh: Annotated[
        str,
        Field(max_length=200),
        _b64url(65, "is not a base64url P-256 public key (65 bytes uncompressed)"),
    ]
    auth: Annotated[
        str, Field(max_length=100), _b64url(16, "is not a base64url 16-byte auth secret")
    ]


class PushSubscription(Schema):
    label = "push subscription"
    kind: Annotated[Literal["fcm", "webpush", "apns"], BeforeValidator(_lower)] = "fcm"
    endpoint: Annotated[str, Field(min_length=1, max_length=2000, description="Token or URL")]
    keys: PushKeys | None = Field(None, description="Web Push only: p256dh and auth")


class Membership(Schema):
    label = "membership"
    tier: Text
    expires_on: IsoDate


#: said of every optional field in the OpenAPI document and the import help
PARTIAL = "Absent: left as it is on an update. null: cleared."
#: model field -> the CustomerRecord fields it fills
_RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "phone": ("phone_e164",),
    "timezone": ("timezone",),
    "locale": ("locale",),
    "country": ("country",),
    "preference": ("preference",),
    "wishlist": ("wishlist",),
    "push_subscriptions": ("push_endpoints",),
    "membership": ("membership_tier", "membership_expires_on"),
    "membership_tier": ("membership_tier",),
    "membership_expires_on": ("membership_expires_on",),
    "state": ("state",),
}


def _about(text: str) -> Any:
    return Field(None, description=f"{text}. {PARTIAL}")


class CustomerFields(Schema):
    """The fields both spellings share, in the order problems are reported."""

    label = "customer"
    external_id: ExternalId
    name: Annotated[str | None, Field(max_length=200)] = _about("Display name")
    phone: Phone | None = _about("E.164, e.g. +14155550123")
    timezone: Zone | None = _about("IANA time zone, e.g. Europe/Berlin; null: from the phone")
    locale: Locale | None = _about("e.g. en-US, zh-CN; null: en-US")
    country: Country | None = Field(
        None,
        validate_default=True,
        description=f"ISO 3166 alpha-2; derived from the phone when absent. {PARTIAL}",
    )
    preference: Preference | None = _about('Ranked channels, e.g. ["push", "sms"]')
    wishlist: Wishlist | None = _about("SKUs the customer watches")
    push_subscriptions: Annotated[list[PushSubscription], Field(max_length=10)] | None = _about(
        "Devices and browsers; a list adds to the known ones, [] removes them all"
    )
    state: Annotated[str, Field(max_length=2), BeforeValidator(_upper)] | None = Field(
        None, description="US state (postal code, e.g. FL) for state calling windows"
    )

    @field_validator("state")
    @classmethod
    def _state(cls, state: str | None, info: ValidationInfo) -> str | None:
        """A US state's postal code; only for US customers."""
        if state is None:
            return None
        if state not in STATE_CODES:
            raise invalid("is not a US state code; expected like FL, NY, CA", state)
        country = info.data.get("country")
        if country and country != "US":
            raise invalid(f"is a US state but the country is {country}", state)
        return state

    @field_validator("country")
    @classmethod
    def _country(cls, country: str | None, info: ValidationInfo) -> str | None:
        """Derived from the phone number when absent; refused when it contradicts it."""
        region = region_of(info.data.get("phone"))
        if country and region and country != region:
            raise invalid(f"disagrees with the phone number's country {region}", country)
        return country or region

    def _given(self) -> frozenset[str]:
        """The record fields this input names (a country derived from a new phone counts)."""
        named = set(self.model_fields_set)
        if "phone" in named and self.country is not None:
            named.add("country")
        return frozenset(f for n in named for f in _RECORD_FIELDS.get(n, ()))

    def _record(self, **extra: Any) -> CustomerRecord:
        subs = self.push_subscriptions or []
        return CustomerRecord(
            external_id=self.external_id,
            name=self.name or "",
            locale=self.locale or "en-US",
            timezone=self.timezone,
            phone_e164=self.phone,
            country=self.country,
            preference=tuple(self.preference or ()),
            wishlist=tuple(self.wishlist or ()),
            push_endpoints=tuple((s.kind, s.endpoint) for s in subs),
            push_keys=tuple((s.endpoint, s.keys.p256dh, s.keys.auth) for s in subs if s.keys),
            given=self._given(),
            state=self.state,
            **extra,
        )


class CustomerIn(CustomerFields):
    """A customer as JSON (the API's ``customer.upserted`` data)."""

    label = "customer"

    membership: Membership | None = _about("Tier and expiry date")

    def to_record(self) -> CustomerRecord:
        member = self.membership
        return self._record(
            membership_tier=member.tier if member else None,
            membership_expires_on=member.expires_on if member else None,
        )


class CustomerRow(CustomerFields):
    """A customer as a CSV / JSONL row: an empty cell (or ``null``) clears its field."""

    label = "customer"

    membership_tier: Text | None = None
    membership_expires_on: IsoDate | None = None
    opt_in: Annotated[list[Annotated[OptIn, PlainValidator(_opt_in)]], BeforeValidator(split)] = (
        Field(default_factory=list)
    )

    @model_validator(mode="before")
    @classmethod
    def _cells(cls, raw: Any) -> Any:
        """Empty cells become ``None`` (clear the field); a ``push_token`` (+ ``push_kind``)
        column is one more subscription; an empty ``external_id`` is a missing one."""
        if not isinstance(raw, Mapping):
            return raw
        row = {
            k: None if isinstance(v, str) and not v.strip() else v
            for k, v in raw.items()
            if isinstance(k, str)
        }
        if row.get("external_id") is None:
            row.pop("external_id", None)
        token, kind = row.pop("push_token", None), row.pop("push_kind", None)
        if token is not None:
            subs = row.get("push_subscriptions") or []
            if isinstance(subs, list):
                row["push_subscriptions"] = [*subs, {"kind": kind or "fcm", "endpoint": token}]
        if row.get("opt_in") is None:
            row.pop("opt_in", None)
        return row

    def to_record(self) -> CustomerRecord:
        return self._record(
            membership_tier=self.membership_tier,
            membership_expires_on=self.membership_expires_on,
            opt_ins=tuple(self.opt_in),
        )


def merged_problems(
    phone: str | None, country: str | None, state: str | None
) -> list[FieldProblem]:
    """What is wrong with a customer's phone, country and state once an update is merged with
    what is on file: a partial update (``{"country": "DE"}``) is checked against the stored
    phone and state as a full record is checked against its own fields, so the rules that pick
    a jurisdiction's quiet hours never see a German customer with a New York number."""
    out: list[FieldProblem] = []
    region = region_of(phone)
    if country and region and country != region:
        out.append(
            FieldProblem(
                "country",
                country,
                f"disagrees with the country of the phone number on file ({mask_phone(phone)}, "
                f"{region}); send the new phone with it, or leave country out",
            )
        )
    if state and country and country != "US":
        out.append(
            FieldProblem(
                "state",
                state,
                f"is a US state but the customer's country is {country}; send state: null "
                "(or an empty state cell) to clear it",
            )
        )
    return out


#: the columns a customer file may have (``push_token``/``push_kind`` are folded in above)
COLUMNS: tuple[str, ...] = (
    *(f for f in CustomerRow.model_fields if f != "push_subscriptions"),
    "push_token",
    "push_kind",
)
#: the keys a JSONL line may have (``push_subscriptions`` as the API spells it, too)
KEYS: tuple[str, ...] = (*COLUMNS, "push_subscriptions")


def validate_record(raw: Mapping[str, Any]) -> CustomerRecord:
    """Build a CustomerRecord from a file row (or the demo's rows) or raise ValidationError."""
    return parse(CustomerRow, raw).to_record()
