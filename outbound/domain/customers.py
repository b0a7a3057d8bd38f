"""A customer as validated input describes them (``schemas.customers`` builds it; the store
writes it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from outbound.domain.values import Channel, Purpose


@dataclass(frozen=True)
class OptIn:
    channel: Channel
    purpose: Purpose
    written: bool = False


@dataclass(frozen=True)
class CustomerRecord:
    external_id: str
    name: str = ""
    locale: str = "en-US"
    timezone: str | None = None
    phone_e164: str | None = None
    country: str | None = None
    preference: tuple[Channel, ...] = ()
    membership_tier: str | None = None
    membership_expires_on: date | None = None
    wishlist: tuple[str, ...] = ()
    push_endpoints: tuple[tuple[str, str], ...] = ()  # (kind, endpoint/token)
    push_keys: tuple[tuple[str, str, str], ...] = ()  # (endpoint, p256dh, auth) for webpush
    opt_ins: tuple[OptIn, ...] = ()
    state: str | None = None  # US state (postal code), for state calling windows
    attributes: Mapping[str, Any] = field(default_factory=dict)
    #: the fields the input named (an update writes only these); None: every field
    given: frozenset[str] | None = None

    def names(self, name: str) -> bool:
        return self.given is None or name in self.given
