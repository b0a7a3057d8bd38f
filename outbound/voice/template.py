"""Prompt templates: ``{name}`` of a known field, ``{{`` / ``}}`` for a literal brace, and
``[[…]]`` for a part said only when every field inside it has a value (``on its way[[, arriving
{eta}]].``: a shop platform gives no delivery date). Nothing else.

Flow texts are written by people and rendered with values from webhooks, so they are never
handed to ``str.format``: a format spec (``{brand:>300000000}``), a conversion (``{brand!r}``),
an attribute or index (``{brand.__class__}``, ``{0}``) would allocate, crash or leak
interpreter internals. ``problems`` is what the linter reports; ``render`` substitutes in one
pass, so a value that contains braces is spoken as it is, never expanded again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

#: a doubled brace, a ``{…}`` without braces inside, or a lone brace
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: an optional part: said only when each of its fields has a value (no nesting)
_OPTIONAL = re.compile(r"\[\[((?:(?!\[\[|\]\]).)*)\]\]", re.DOTALL)


def _tokens(text: str) -> Iterator[tuple[re.Match[str], str | None]]:
    """Every brace construct: (match, its placeholder body, or None for a literal brace)."""
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        yield match, (match.group(1) if token not in ("{{", "}}") else None)


def fields(text: str) -> set[str]:
    """The well-formed placeholder names in ``text`` (malformed ones are left to ``problems``)."""
    return {body for _, body in _tokens(text) if body is not None and _NAME.fullmatch(body)}


def problems(text: str, known: Collection[str]) -> list[str]:
    """Why ``text`` is not a valid template: one message per bad placeholder or brace."""
    out: list[str] = []
    plain = _OPTIONAL.sub(lambda m: m.group(1), text)
    if "[[" in plain or "]]" in plain:
        out.append("has an unmatched or nested '[[' / ']]' (an optional part is [[… {field} …]])")
    for match, body in _tokens(plain):
        token = match.group(0)
        if token in ("{", "}"):
            out.append(
                f"has an unmatched {token!r} at character {match.start() + 1}; "
                f"write {token * 2!r} for a literal brace"
            )
        elif body is None:
            continue
        elif not _NAME.fullmatch(body):
            out.append(
                f"placeholder {token!r} is not a plain {{name}}: no format spec, conversion, "
                "attribute or index is allowed"
            )
        elif body not in known:
            out.append(f"placeholder {token!r} is not a known field; known: {sorted(known)}")
    return out


def render(text: str, values: Mapping[str, Any]) -> str:
    """``{name}`` -> ``str(values[name])`` (missing: empty); anything malformed is kept as written.
    An optional part ``[[…]]`` is kept (without its brackets) when each field inside has a value,
    else dropped whole."""

    def optional(match: re.Match[str]) -> str:
        inner = match.group(1)
        named = fields(inner)
        return inner if all(values.get(n) not in (None, "") for n in named) else ""

    return _substitute(_OPTIONAL.sub(optional, text), values)


def _substitute(text: str, values: Mapping[str, Any]) -> str:

    def one(match: re.Match[str]) -> str:
        token, body = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            return token[0]
        if body is not None and _NAME.fullmatch(body):
            value = values.get(body)
            return "" if value is None else str(value)
        return token

    return _TOKEN.sub(one, text)
