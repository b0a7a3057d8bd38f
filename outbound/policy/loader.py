"""Load policy rules from config/policies.toml (and operator caps from the settings).

Schema (one table per jurisdiction, code in upper case; ``default`` is the fallback)::

    [country_map]            # ISO 3166 alpha-2 -> jurisdiction code
    DE = "EU"
    [US]
    voice_marketing_requires_written = true        # optional, default true
    [US.windows]                                   # channel -> local window; absent = none
    voice = { start = "08:00", end = "21:00" }
    [US.consent_default]                           # purpose -> "implied" | "explicit"
    marketing = "explicit"                         # a purpose left out is "explicit"
    [[US.caps]]                                    # legal caps (see ``parse_cap``)
    name = "tcpa_informational_voice"
    limit = 3
    window = "rolling"                             # "day" | "week" | "rolling"
    days = 30                                      # rolling only
    channel = "voice"                              # optional
    purpose = "transactional"                      # optional
    [default]
    ...

Every error is a ``ConfigError`` naming the key path, the bad value and a hint.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import time
from pathlib import Path
from typing import Any, TypeVar

from outbound.domain.errors import ConfigError
from outbound.domain.values import Channel, Purpose
from outbound.policy.attempts import parse_limits
from outbound.policy.model import (
    CapRule,
    CapWindow,
    ConsentDefault,
    HolidayRule,
    Jurisdiction,
    Rules,
    StateRule,
    Window,
)

E = TypeVar("E", Channel, Purpose)

SOURCE = "policies.toml"
_RESERVED = frozenset({"country_map", "default"})
_JURISDICTION_KEYS = frozenset(
    # "messaging" (keywords, footers) is read by outbound/policy/messaging.py
    {
        "windows",
        "consent_default",
        "voice_marketing_requires_written",
        "caps",
        "messaging",
        "states",
        "holidays",
        "call_attempts",
    }
)
_STATE_KEYS = frozenset({"windows", "purposes", "source"})
_HOLIDAY_KEYS = frozenset({"channels", "purposes", "source", "country"})
_CAP_KEYS = frozenset({"name", "limit", "window", "days", "channel", "purpose"})
_CAP_WINDOWS: tuple[CapWindow, ...] = ("day", "week", "rolling")
_CONSENT_DEFAULTS: tuple[ConsentDefault, ...] = ("implied", "explicit")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CAP_NAME = re.compile(r"^[a-z0-9_]+$")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def load_rules_file(
    path: str | Path, operator_caps: Sequence[Mapping[str, Any]] | None = None
) -> Rules:
    """Read and validate a policies TOML file."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{file}: policies file not found; expected config/policies.toml"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    return load_rules(data, operator_caps, source=file.name)


def load_rules(
    policies: Mapping[str, Any],
    operator_caps: Sequence[Mapping[str, Any]] | None = None,
    *,
    source: str = SOURCE,
) -> Rules:
    """Build ``Rules`` from the parsed policies table and the operator's caps."""
    if not isinstance(policies.get("default"), Mapping):
        raise _fail(source, "missing table [default]; add the fallback jurisdiction's rules")
    jurisdictions: dict[str, Jurisdiction] = {}
    for code, table in policies.items():
        if code in _RESERVED:
            continue
        if not _CODE.match(code):
            raise _fail(
                f"{source} [{code}]",
                f"jurisdiction code {code!r} is not upper case; expected like 'US' or 'EU'",
            )
        jurisdictions[code] = parse_jurisdiction(code, table, source)
    default = parse_jurisdiction("default", policies["default"], source)
    country_map = _parse_country_map(policies.get("country_map", {}), jurisdictions, source)
    operator = tuple(
        parse_cap(cap, legal=False, where=f"operator_caps[{i}]")
        for i, cap in enumerate(operator_caps or ())
    )
    _check_operator_names(operator, (default, *jurisdictions.values()))
    return Rules(jurisdictions, default, country_map, operator)


def parse_jurisdiction(code: str, table: Any, source: str = SOURCE) -> Jurisdiction:
    where = f"{source} [{code}]"
    if not isinstance(table, Mapping):
        raise _fail(where, f"expected a table, got {table!r}")
    _no_unknown_keys(table, _JURISDICTION_KEYS, where)
    written = table.get("voice_marketing_requires_written", True)
    if not isinstance(written, bool):
        raise _fail(
            f"{source} [{code}.voice_marketing_requires_written]",
            f"{written!r} is not a boolean; expected true or false",
        )
    caps = table.get("caps", [])
    if not isinstance(caps, list):
        raise _fail(f"{source} [{code}.caps]", f"{caps!r} is not an array of tables")
    legal = tuple(
        parse_cap(cap, legal=True, where=f"{source} [{code}.caps[{i}]]")
        for i, cap in enumerate(caps)
    )
    names = [cap.name for cap in legal]
    if len(set(names)) != len(names):
        raise _fail(f"{source} [{code}.caps]", f"cap names {names!r} repeat; names must be unique")
    return Jurisdiction(
        code=code,
        windows=_parse_windows(table.get("windows", {}), f"{source} [{code}.windows"),
        consent_default=_parse_consent(table.get("consent_default", {}), f"{source} [{code}"),
        voice_marketing_requires_written=written,
        caps=legal,
        states=_parse_states(table.get("states", {}), f"{source} [{code}.states"),
        holidays=_parse_holidays(table.get("holidays"), f"{source} [{code}.holidays]"),
        call_attempts=parse_limits(
            table.get("call_attempts", []), f"{source} [{code}.call_attempts]"
        ),
    )


def _source(spec: Mapping[str, Any], where: str) -> str:
    text = spec.get("source")
    if not isinstance(text, str) or not text.strip():
        raise _fail(where, "source is missing; name the statute or the policy this rule comes from")
    return text.strip()


def _purposes(value: Any, where: str) -> frozenset[Purpose] | None:
    """Absent = every purpose."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise _fail(where, f'purposes {value!r} is not a list; expected like ["marketing"]')
    return frozenset(_enum(Purpose, p, where, "purpose") for p in value)


def _parse_states(table: Any, where: str) -> dict[str, StateRule]:
    if not isinstance(table, Mapping):
        raise _fail(f"{where}]", f"expected a table of states, got {table!r}")
    states: dict[str, StateRule] = {}
    for code, spec in table.items():
        at = f"{where}.{code}]"
        if not (isinstance(code, str) and len(code) == 2 and code.isupper()):
            raise _fail(at, f"state {code!r} is not a two-letter upper-case code; expected 'FL'")
        if not isinstance(spec, Mapping):
            raise _fail(at, f"expected a table, got {spec!r}")
        _no_unknown_keys(spec, _STATE_KEYS, at)
        windows = _parse_windows(spec.get("windows", {}), f"{where}.{code}.windows")
        if not windows:
            raise _fail(
                at, 'windows is missing; give e.g. voice = { start = "08:00", end = "20:00" }'
            )
        states[code] = StateRule(
            code, windows, _purposes(spec.get("purposes"), at), _source(spec, at)
        )
    return states


def _parse_holidays(spec: Any, where: str) -> HolidayRule | None:
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise _fail(where, f"expected a table, got {spec!r}")
    _no_unknown_keys(spec, _HOLIDAY_KEYS, where)
    channels = spec.get("channels")
    if not isinstance(channels, list) or not channels:
        raise _fail(where, f'channels {channels!r} is not a list; expected like ["voice"]')
    country = spec.get("country")
    if country is not None and not (isinstance(country, str) and len(country) == 2):
        raise _fail(where, f"country {country!r} is not an ISO 3166 alpha-2 code; expected 'US'")
    return HolidayRule(
        frozenset(_enum(Channel, c, where, "channel") for c in channels),
        _purposes(spec.get("purposes"), where),
        _source(spec, where),
        country.upper() if country else None,
    )


def _parse_windows(table: Any, where: str) -> dict[Channel, Window]:
    if not isinstance(table, Mapping):
        raise _fail(f"{where}]", f"expected a table of channel windows, got {table!r}")
    windows: dict[Channel, Window] = {}
    for name, spec in table.items():
        channel = _enum(Channel, name, f"{where}]", "channel")
        at = f"{where}.{name}]"
        if not isinstance(spec, Mapping):
            raise _fail(
                at, f'{spec!r} is not a table; expected {{ start = "08:00", end = "21:00" }}'
            )
        _no_unknown_keys(spec, frozenset({"start", "end"}), at)
        start, end = _hhmm(spec.get("start"), at, "start"), _hhmm(spec.get("end"), at, "end")
        if start >= end:
            raise _fail(
                at,
                f"start {spec['start']!r} is not before end {spec['end']!r}; "
                "windows cannot span midnight",
            )
        windows[channel] = Window(start, end)
    return windows


def _hhmm(value: Any, where: str, key: str) -> time:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise _fail(where, f"{key} {value!r} is not HH:MM; expected like '08:00'")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _parse_consent(table: Any, where: str) -> dict[Purpose, ConsentDefault]:
    at = f"{where}.consent_default]"
    if not isinstance(table, Mapping):
        raise _fail(at, f'expected a table of purpose = "implied"|"explicit", got {table!r}')
    defaults: dict[Purpose, ConsentDefault] = dict.fromkeys(Purpose, "explicit")
    for name, value in table.items():
        purpose = _enum(Purpose, name, at, "purpose")
        choice = next((c for c in _CONSENT_DEFAULTS if c == value), None)
        if choice is None:
            raise _fail(
                f"{where}.consent_default.{name}]",
                f"{value!r} is not a consent default; expected 'implied' or 'explicit'",
            )
        defaults[purpose] = choice
    return defaults


def parse_cap(mapping: Mapping[str, Any], legal: bool, *, where: str = "cap") -> CapRule:
    """One cap table -> ``CapRule``; ``legal`` caps come from policies.toml."""
    if not isinstance(mapping, Mapping):
        raise _fail(where, f"{mapping!r} is not a table; expected name, limit, window")
    _no_unknown_keys(mapping, _CAP_KEYS, where)
    name = mapping.get("name")
    if not isinstance(name, str) or not _CAP_NAME.match(name):
        raise _fail(where, f"name {name!r} is not lower_snake_case; expected like 'daily_sms'")
    limit = _positive_int(mapping.get("limit"), where, "limit", "3")
    window = next((w for w in _CAP_WINDOWS if w == mapping.get("window")), None)
    if window is None:
        raise _fail(
            where,
            f"window {mapping.get('window')!r} is unknown; expected 'day', 'week' or 'rolling'",
        )
    days = 1
    if window == "rolling":
        days = _positive_int(mapping.get("days"), where, "days", "30")
    elif "days" in mapping:
        raise _fail(where, f"days {mapping['days']!r} only applies to window = 'rolling'")
    return CapRule(
        name=name,
        limit=limit,
        window=window,
        days=days,
        channel=_optional_enum(Channel, mapping.get("channel"), where, "channel"),
        purpose=_optional_enum(Purpose, mapping.get("purpose"), where, "purpose"),
        legal=legal,
    )


def _positive_int(value: Any, where: str, key: str, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(where, f"{key} {value!r} is not a positive integer; expected like {example}")
    return value


def _parse_country_map(
    table: Any, jurisdictions: Mapping[str, Jurisdiction], source: str
) -> dict[str, str]:
    where = f"{source} [country_map]"
    if not isinstance(table, Mapping):
        raise _fail(where, f'expected a table of COUNTRY = "JURISDICTION", got {table!r}')
    result: dict[str, str] = {}
    for country, code in table.items():
        if not re.match(r"^[A-Z]{2}$", country):
            raise _fail(where, f"country {country!r} is not ISO 3166 alpha-2; expected like 'DE'")
        if code not in jurisdictions:
            known = ", ".join(sorted(jurisdictions)) or "none"
            raise _fail(
                f"{where[:-1]}.{country}]",
                f"jurisdiction {code!r} is not defined; known: {known}",
            )
        result[country] = code
    return result


def _check_operator_names(operator: tuple[CapRule, ...], legal: Sequence[Jurisdiction]) -> None:
    """Counter keys are built from cap names, so names must not collide."""
    legal_names = {cap.name for j in legal for cap in j.caps}
    seen: set[str] = set()
    for cap in operator:
        if cap.name in legal_names or cap.name in seen:
            raise ConfigError(
                f"operator_caps: name {cap.name!r} is already used by another cap; "
                "pick a unique name (counter keys are built from it)"
            )
        seen.add(cap.name)


def _no_unknown_keys(table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}; expected one of {sorted(allowed)}")


def _enum(kind: type[E], value: Any, where: str, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise _fail(where, f"{what} {value!r} is unknown; expected one of {choices}") from None


def _optional_enum(kind: type[E], value: Any, where: str, what: str) -> E | None:
    return None if value is None else _enum(kind, value, where, what)
