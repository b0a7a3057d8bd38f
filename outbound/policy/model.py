"""The inputs of the policy: rules (from config/policies.toml) and a snapshot of one customer.

Everything here is an immutable value. The store builds a ``Snapshot``; the engine is a pure
function of (notification, snapshot, rules) -> Decision, so the same decision can be replayed
and explained (``outbound why``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal

from outbound.domain.values import Channel, ConsentAction, Kind, Purpose, require_aware
from outbound.policy.attempts import AttemptLimit

ConsentDefault = Literal["implied", "explicit"]
CapWindow = Literal["day", "week", "rolling"]


@dataclass(frozen=True)
class Window:
    """A daily window in local time during which contact is allowed: ``start <= t < end``."""

    start: time
    end: time


@dataclass(frozen=True)
class CapRule:
    """At most ``limit`` contacts per customer in a window.

    Scope: ``channel`` and/or ``purpose`` (None = any). ``day`` / ``week`` are calendar windows
    in the customer's local time (ISO week, Monday start); ``rolling`` is ``days`` consecutive
    days counted in UTC day buckets (conservatively ``days + 1`` buckets).
    ``legal`` caps come from policies.toml and are evaluated before operator caps.
    """

    name: str
    limit: int
    window: CapWindow
    days: int = 1
    channel: Channel | None = None
    purpose: Purpose | None = None
    legal: bool = False


@dataclass(frozen=True)
class StateRule:
    """A US state's (or any subdivision's) window that is stricter than the jurisdiction's, for
    the channels it names and the purposes it covers (``None`` = every purpose)."""

    code: str  # e.g. "FL"
    windows: Mapping[Channel, Window]
    purposes: frozenset[Purpose] | None
    source: str  # the statute, named in policies.toml


@dataclass(frozen=True)
class HolidayRule:
    """No contact on the public holidays of the customer's country (and state, when the
    ``holidays`` library knows it) for these channels and purposes; deferred to the next
    allowed day."""

    channels: frozenset[Channel]
    purposes: frozenset[Purpose] | None
    source: str
    country: str | None = None  # the calendar's country; None = the customer's country


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    #: allowed local contact window per channel; a channel missing here has no quiet hours
    windows: Mapping[Channel, Window]
    consent_default: Mapping[Purpose, ConsentDefault]
    #: prerecorded/robot voice for marketing needs explicit *written* consent (TCPA)
    voice_marketing_requires_written: bool = True
    caps: tuple[CapRule, ...] = ()
    #: subdivision code -> stricter windows (US state calling hours)
    states: Mapping[str, StateRule] = field(default_factory=dict)
    holidays: HolidayRule | None = None
    #: legal limits on repeated robot calls about one subject (policy/attempts.py)
    call_attempts: tuple[AttemptLimit, ...] = ()


@dataclass(frozen=True)
class Rules:
    jurisdictions: Mapping[str, Jurisdiction]
    default: Jurisdiction
    #: country code (ISO 3166 alpha-2) -> jurisdiction code, e.g. "DE" -> "EU"
    country_map: Mapping[str, str] = field(default_factory=dict)
    operator_caps: tuple[CapRule, ...] = ()

    def for_country(self, country: str | None) -> Jurisdiction:
        if country:
            code = self.country_map.get(country.upper(), country.upper())
            if code in self.jurisdictions:
                return self.jurisdictions[code]
        return self.default


@dataclass(frozen=True)
class ConsentRecord:
    """One row of the append-only consent ledger. ``None`` channel/purpose = all of them."""

    channel: Channel | None
    purpose: Purpose | None
    action: ConsentAction
    at: datetime
    written: bool = False  # evidence is explicit written consent naming the number
    source: str = ""

    def __post_init__(self) -> None:
        require_aware(self.at, "ConsentRecord.at")


@dataclass(frozen=True)
class CustomerView:
    id: int
    country: str | None
    timezone: str | None
    phone_e164: str | None
    has_push: bool
    preference: tuple[Channel, ...]
    suppressed: str | None = None  # reason, when the customer/number is on the do-not-contact list
    state: str | None = None  # subdivision from the profile (e.g. "FL"); else from the area code


@dataclass(frozen=True)
class NotificationView:
    kind: Kind
    purpose: Purpose
    expires_at: datetime | None
    #: an explicit channel list (e.g. the SMS link a customer asked for in a call) replaces the
    #: customer's preference; consent, quiet hours and caps still apply
    channels: tuple[Channel, ...] | None = None


@dataclass(frozen=True)
class Snapshot:
    customer: CustomerView
    consents: tuple[ConsentRecord, ...]
    #: cap counter values by key (missing key = 0)
    counters: Mapping[str, int]
    now: datetime
    #: channels already tried for this notification (earlier rungs of the ladder)
    tried: frozenset[Channel] = frozenset()
    #: when earlier robot calls of this notification were placed (for legal attempt limits)
    voice_attempts: tuple[datetime, ...] = ()

    def __post_init__(self) -> None:
        require_aware(self.now, "Snapshot.now")
