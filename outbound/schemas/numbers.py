"""Numbers no field can take, found in JSON text before any model sees it, by field path.

JSON (RFC 8259) has no ``NaN`` or ``Infinity``, yet common parsers accept them; ``1e999``
parses to infinity and a 4000-digit integer to a value no field means. Left to the models, a
text field would store ``"nan"`` and an error would have to carry a float that JSON cannot
express back. So they are refused here with the field named: ``scan`` is cheap for the usual
body (one regular-expression search) and parses again only a body that could hold one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from outbound.domain.errors import FieldProblem
from outbound.schemas.base import path_of

#: digits an integer may have; no field takes more (ids are 64-bit: 19 digits)
MAX_DIGITS = 40
#: what a body must contain to possibly hold a non-finite or oversized number
_SUSPECT = re.compile(rb"NaN|Infinity|[eE][+]?0*[0-9]{3}|[0-9]{%d}" % (MAX_DIGITS + 1))


@dataclass(frozen=True)
class _Bad:
    token: str
    hint: str


def _constant(token: str) -> _Bad:
    return _Bad(token, "is not a JSON number (NaN and Infinity are not JSON); send a finite number")


def _float(token: str) -> float | _Bad:
    value = float(token)
    if math.isfinite(value):
        return value
    return _Bad(_cut(token), "is too large a number (beyond ±1.8e308)")


def _int(token: str) -> int | _Bad:
    digits = len(token.lstrip("-"))
    if digits > MAX_DIGITS:
        return _Bad(_cut(token), f"is too large a number ({digits} digits; at most {MAX_DIGITS})")
    return int(token)


def _cut(token: str) -> str:
    return token if len(token) <= 24 else f"{token[:20]}…"


def _walk(value: Any, loc: tuple[int | str, ...], out: list[FieldProblem], prefix: str) -> None:
    if isinstance(value, _Bad):
        field = path_of(loc, prefix)  # the list's field for an item of a list
        if all(p.field != field for p in out):
            out.append(FieldProblem(field, value.token, value.hint))
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*loc, str(key)), out, prefix)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*loc, index), out, prefix)


def scan(body: bytes | str, prefix: str = "") -> list[FieldProblem]:
    """Every field of the JSON ``body`` that holds NaN, ±Infinity, a float beyond the double
    range or an integer over ``MAX_DIGITS`` digits (``[]`` for anything else, including text
    that is not JSON: the model's parse reports that). Paths start with ``prefix``."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if not _SUSPECT.search(raw):
        return []
    try:
        parsed = json.loads(raw, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except ValueError:
        return []
    found: list[FieldProblem] = []
    _walk(parsed, (), found, prefix)
    return found
