"""Quiet hours: the customer's local contact window, evaluated in every candidate time zone.

When the profile has no usable time zone we derive candidates from the phone number (or the
country). An ambiguous number fails closed: we only contact when the window is open in *every*
candidate zone at once, because the law protects the called party's real local time, which we
do not know.

Windows are wall-clock times (``start <= local time < end``). Conversions go through zoneinfo,
so DST gaps and overlaps and half-hour offsets are handled by the time zone database.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from outbound.domain.trace import NO_COMMON_WINDOW
from outbound.policy.model import Window

#: How far ahead ``next_open`` looks for a common opening before giving up.
HORIZON = timedelta(days=8)
UNKNOWN_ZONE = "Etc/Unknown"
#: package data beside this module: the NANP area codes that span more than one zone
SPLIT_AREA_CODES = "nanp_split_area_codes.toml"


class NoCommonWindowError(ValueError):
    """The window is never open in all candidate zones at once within ``HORIZON``."""

    def __init__(self, zones: Iterable[ZoneInfo]) -> None:
        names = ", ".join(z.key for z in zones)
        super().__init__(f"{NO_COMMON_WINDOW} ({names})")


def candidate_zones(
    timezone: str | None, phone_e164: str | None, country: str | None
) -> tuple[ZoneInfo, ...]:
    """The zones the customer may be in, most specific source first.

    Profile time zone > zones of the phone number > every zone of the number's region (or of
    ``country``). An invalid profile time zone counts as unknown. ``()`` means unknown.
    """
    profile = _zone(timezone) if timezone else None
    if profile is not None:
        return (profile,)
    names, region = _phone_zones(phone_e164)
    if not names:
        names = country_zone_names(region or (country or "").upper())
    return _load_zones(names)


def _phone_zones(phone_e164: str | None) -> tuple[tuple[str, ...], str | None]:
    """Zone names from the number's prefix, and the number's region for the fallback."""
    if not phone_e164:
        return (), None
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return (), None
    names = tuple(n for n in phone_timezone.time_zones_for_number(number) if n != UNKNOWN_ZONE)
    if number.country_code == 1:
        names += split_area_code_zones(str(number.national_number)[:3])
    region = phonenumbers.region_code_for_number(number)
    return names, region if region and region.isalpha() else None


@functools.cache
def _split_area_codes() -> dict[str, tuple[str, ...]]:
    """NANP area code -> every zone it spans (nanp_split_area_codes.toml, sources named there)."""
    text = resources.files("outbound.policy").joinpath(SPLIT_AREA_CODES).read_text(encoding="utf-8")
    table = tomllib.loads(text)["area_codes"]
    return {str(npa): tuple(zones) for npa, zones in table.items()}


def split_area_code_zones(area_code: str) -> tuple[str, ...]:
    """Every zone a NANP area code that crosses a zone line spans; ``()`` for the others
    (libphonenumber's prefix data is right for them, and picks one zone for these)."""
    return _split_area_codes().get(area_code, ())


@functools.cache
def _zone_tab() -> dict[str, tuple[str, ...]]:
    """country code -> zone names, from tzdata's zone.tab (static data, read once)."""
    text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) >= 3:
            table.setdefault(cols[0].upper(), []).append(cols[2])
    return {code: tuple(zones) for code, zones in table.items()}


def country_zone_names(country: str) -> tuple[str, ...]:
    """Every zone of an ISO 3166 alpha-2 country, in zone.tab order (``()`` if unknown)."""
    return _zone_tab().get(country.upper(), ()) if country else ()


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _load_zones(names: Iterable[str]) -> tuple[ZoneInfo, ...]:
    zones: dict[str, ZoneInfo] = {}
    for name in names:
        zone = _zone(name)
        if zone is not None:
            zones.setdefault(zone.key, zone)
    return tuple(zones.values())


def is_open(instant: datetime, zone: ZoneInfo, window: Window) -> bool:
    """Whether the local wall time at ``instant`` in ``zone`` is inside the window."""
    local = instant.astimezone(zone).time()
    if window.start <= window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end  # a window that spans midnight


def next_open(now: datetime, zones: tuple[ZoneInfo, ...], window: Window) -> datetime | None:
    """``None`` if the window is open now in every zone, else the earliest common opening.

    Raises ``NoCommonWindowError`` if the zones never share an open instant within
    ``HORIZON``, and ``ValueError`` for no zones (the caller must fail closed itself).
    """
    if not zones:
        raise ValueError("next_open needs at least one candidate zone; unknown zone fails closed")
    if all(is_open(now, z, window) for z in zones):
        return None
    limit = now + HORIZON
    for candidate in sorted(set(_openings(now, zones, window))):
        if candidate > limit:
            break
        if candidate >= now and all(is_open(candidate, z, window) for z in zones):
            return candidate
    raise NoCommonWindowError(zones)


def _openings(now: datetime, zones: Iterable[ZoneInfo], window: Window) -> Iterator[datetime]:
    """Every instant where some zone's window opens, from the day before ``now`` on.

    The intersection of the zones' windows opens when its last zone opens, so the earliest
    common opening is one of these.
    """
    for zone in zones:
        first = now.astimezone(zone).date() - timedelta(days=1)
        for offset in range(HORIZON.days + 2):
            yield from wall_instants(first + timedelta(days=offset), window.start, zone)


def wall_instants(day: date, wall: time, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants at which the local clock reaches ``wall`` on ``day``.

    Usually one. In a fall-back overlap the wall time happens twice (both returned). In a
    spring-forward gap it never happens; the clock jumps past it at the transition, which is
    then the instant it is "reached".
    """
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return (first,)
    if _round_trips(first, naive, zone):
        return (first, second)  # overlap: fold=0 is the earlier occurrence
    return (_transition(min(first, second), max(first, second), naive, zone),)


def first_instant_at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant the local clock in ``zone`` reaches ``wall`` on ``day`` (aware UTC)."""
    return wall_instants(day, wall, zone)[0]


def _round_trips(instant: datetime, naive: datetime, zone: ZoneInfo) -> bool:
    return instant.astimezone(zone).replace(tzinfo=None) == naive


def _transition(low: datetime, high: datetime, naive: datetime, zone: ZoneInfo) -> datetime:
    """Binary search (whole seconds) for the gap's transition: first instant with wall >= naive."""
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@functools.cache
def window_span(window: Window) -> str:
    """'08:00-21:00': a window as a trace value (read as '08:00–21:00')."""
    return f"{window.start:%H:%M}-{window.end:%H:%M}"
