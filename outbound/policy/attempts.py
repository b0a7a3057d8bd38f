"""Legal limits on call attempts: at most ``limit`` robot calls about one subject in ``hours``.

State telephone-solicitation laws in the US cap repeated calls on the same subject matter
(Florida, Oklahoma, Maryland: three per 24 hours). Calls of one notification are calls on one
subject, so the count is the notification's earlier voice attempts (answered, voicemail, busy
or no answer: every call placed) within the window. Which numbers a limit covers is data: the
area codes the law presumes to be its residents'. A reached limit skips voice, so the ladder
moves to the next channel; ``why`` shows the count and the law.

Schema (policies.toml)::

    [[US.call_attempts]]
    name = "florida_ftsa"            # lower_snake_case, unique in the jurisdiction
    limit = 3                        # calls allowed in the window
    hours = 24                       # rolling window
    purpose = "marketing"            # optional: only these calls (absent = every purpose)
    area_codes = [305, 407]          # NANP area codes the limit covers (absent = every number)
    source = "Fla. Stat. § 501.059(8)(a)"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from outbound.domain.errors import ConfigError
from outbound.domain.trace import Note
from outbound.domain.values import Purpose

_KEYS = frozenset({"name", "limit", "hours", "purpose", "area_codes", "source"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class AttemptLimit:
    name: str
    limit: int
    hours: int
    source: str
    purpose: Purpose | None = None
    area_codes: frozenset[str] = frozenset()  # NANP area codes; empty = every number

    def covers(self, purpose: Purpose, phone: str | None) -> bool:
        if self.purpose is not None and purpose is not self.purpose:
            return False
        if not self.area_codes:
            return True
        return bool(phone) and str(phone).startswith("+1") and str(phone)[2:5] in self.area_codes


def limit_notes(
    limits: Iterable[AttemptLimit],
    purpose: Purpose,
    phone: str | None,
    attempts: Sequence[datetime],
    now: datetime,
) -> list[Note]:
    """One note per limit covering this call: ``attempts:ok`` or ``attempts:reached``, with
    (name, calls in the window, limit, hours, source)."""
    notes = []
    for rule in limits:
        if not rule.covers(purpose, phone):
            continue
        since = now - timedelta(hours=rule.hours)
        used = sum(1 for at in attempts if at > since)
        code = "attempts:reached" if used >= rule.limit else "attempts:ok"
        notes.append(Note(code, (rule.name, used, rule.limit, rule.hours, rule.source)))
    return notes


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def parse_limits(value: Any, where: str) -> tuple[AttemptLimit, ...]:
    """``[[<CODE>.call_attempts]]`` tables -> limits; a bad entry names its key and a fix."""
    if not isinstance(value, list):
        raise _fail(where, f"{value!r} is not an array of tables; expected [[CODE.call_attempts]]")
    limits = tuple(_parse_one(entry, f"{where[:-1]}[{i}]]") for i, entry in enumerate(value))
    names = [rule.name for rule in limits]
    if len(set(names)) != len(names):
        raise _fail(where, f"names {names!r} repeat; names must be unique")
    return limits


def _parse_one(entry: Any, where: str) -> AttemptLimit:
    if not isinstance(entry, Mapping):
        raise _fail(where, f"{entry!r} is not a table; expected name, limit, hours, source")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}; expected one of {sorted(_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(where, f"name {name!r} is not lower_snake_case; expected like 'florida_ftsa'")
    numbers = {}
    for key, example in (("limit", "3"), ("hours", "24")):
        got = entry.get(key)
        if isinstance(got, bool) or not isinstance(got, int) or got < 1:
            raise _fail(where, f"{key} {got!r} is not a positive integer; expected like {example}")
        numbers[key] = got
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _fail(where, f"source {source!r} is empty; name the law, e.g. 'Fla. Stat. § 501.059'")
    purpose = entry.get("purpose")
    if purpose is not None and purpose not in {p.value for p in Purpose}:
        known = ", ".join(p.value for p in Purpose)
        raise _fail(where, f"purpose {purpose!r} is unknown; expected one of {known}")
    codes = entry.get("area_codes", [])
    if not isinstance(codes, list) or not all(_area_code(c) for c in codes):
        raise _fail(where, f"area_codes {codes!r} must be 3-digit NANP area codes, like [305, 407]")
    return AttemptLimit(
        name=name,
        limit=numbers["limit"],
        hours=numbers["hours"],
        source=source.strip(),
        purpose=Purpose(purpose) if purpose is not None else None,
        area_codes=frozenset(str(c) for c in codes),
    )


def _area_code(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 200 <= value <= 999
