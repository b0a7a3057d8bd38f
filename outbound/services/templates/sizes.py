"""Messages too long to send, refused when the event arrives instead of failing at dispatch.

A payload is rendered as every customer could get it — each language with a body, the opt-out
footer on — and refused (a ``ValidationError`` naming the longest payload field) when the SMS
would need more than ``[sms] max_parts`` parts, or the push would exceed the smaller of
``[push] webpush_max_bytes`` (encrypted) and ``[push] fcm_max_bytes``. The worst case is used
because the check runs once per event, before it is known which customers a price drop
reaches and in which language each of them reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from outbound.channels.sms_text import plan
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import Channel, Kind
from outbound.schemas.base import shown
from outbound.services.templates.render import BODIES, CHANNEL_BODIES, every_text

#: the longest ``delivery_id`` a push can carry (a 64-bit id), for its size
_LONGEST_ID = str(2**63 - 1)
#: bytes of a push besides its title and text: JSON keys, ids, the Web Push record's frame
_PUSH_FRAME = 256
_PLACEHOLDER = re.compile(r"{{\s*\w+\s*}}")


@dataclass(frozen=True)
class SizeLimits:
    """From config: ``[sms] max_parts``, ``[push] webpush_max_bytes`` / ``fcm_max_bytes`` /
    ``title`` and ``[brand] name``."""

    sms_parts: int = 6
    webpush_bytes: int = 4096
    fcm_bytes: int = 4000
    push_title: str = "Shop"
    brand: str = "Shop"


def _longest(payload: Mapping[str, Any], prefix: str) -> tuple[str, Any]:
    name = max(payload, key=lambda k: len(str(payload[k])))
    return f"{prefix}.{name}" if prefix else name, payload[name]


Texts = dict[tuple[Channel, str], str]


def sms_parts(kind: Kind, payload: Mapping[str, Any], brand: str) -> tuple[int, str]:
    """The most SMS parts the payload renders to in any language, and that language."""
    return _most_parts(every_text(kind, payload, brand=brand, channels=(Channel.SMS,)))


def _most_parts(texts: Texts) -> tuple[int, str]:
    return max((len(plan(t).parts), lang) for (c, lang), t in texts.items() if c is Channel.SMS)


def push_bytes(kind: Kind, payload: Mapping[str, Any], limits: SizeLimits) -> tuple[int, str]:
    """The largest push (as the tighter of the two services counts it) in any language."""
    texts = every_text(kind, payload, brand=limits.brand, channels=(Channel.PUSH,))
    return _most_over(kind, texts, limits)


def _most_over(kind: Kind, texts: Texts, limits: SizeLimits) -> tuple[int, str]:
    from outbound.channels.push import PushContent  # the push stack only when a check runs

    data = {"delivery_id": _LONGEST_ID, "kind": kind.value}
    worst: list[tuple[int, str]] = []
    for (channel, lang), text in texts.items():
        if channel is not Channel.PUSH:
            continue
        content = PushContent(limits.push_title, text, data)
        over_web = content.webpush_size() - limits.webpush_bytes
        over_fcm = content.fcm_size() - limits.fcm_bytes
        worst.append((max(over_web, over_fcm), lang))
    return max(worst)


@lru_cache(maxsize=64)
def _frame(kind: Kind, brand: str) -> tuple[int, int, int]:
    """The most UTF-16 units and UTF-8 bytes any language's SMS or push text of ``kind`` has
    without its values (brand and footer included), and how often one placeholder can occur."""
    units = octets = 0
    for text in every_text(kind, {}, brand=brand).values():
        units = max(units, len(text.encode("utf-16-le")) // 2)
        octets = max(octets, len(text.encode()))
    sources = [*(b[kind] for b in BODIES.values()), *CHANNEL_BODIES.values()]
    repeats = max(
        (src.count(m) for src in sources for m in set(_PLACEHOLDER.findall(src))), default=1
    )
    return units, octets, repeats


def _surely_fits(kind: Kind, payload: Mapping[str, Any], limits: SizeLimits) -> bool:
    """An upper bound on both sizes is within the limits (so nothing needs rendering): an SMS
    part holds at least 67 UTF-16 units (UCS-2; GSM-7 holds more), and JSON escaping makes at
    most 6 bytes of one."""
    units, octets, repeats = _frame(kind, limits.brand)
    values = [str(v) for v in payload.values()]
    text_units = units + repeats * sum(len(v.encode("utf-16-le")) // 2 for v in values)
    text_bytes = octets + repeats * sum(len(v.encode()) for v in values)
    push = 6 * (text_bytes + len(limits.push_title.encode())) + _PUSH_FRAME
    sms_parts = 1 if text_units <= 70 else -(-text_units // 67)
    return sms_parts <= limits.sms_parts and push <= min(limits.webpush_bytes, limits.fcm_bytes)


def check_sizes(
    kind: Kind, payload: Mapping[str, Any], limits: SizeLimits, *, prefix: str = "data"
) -> None:
    """Raise ValidationError when the SMS or the push of ``payload`` would be too long."""
    if _surely_fits(kind, payload, limits):
        return
    hints: list[str] = []
    texts = every_text(kind, payload, brand=limits.brand)  # rendered once for both checks
    parts, lang = _most_parts(texts)
    if parts > limits.sms_parts:
        hints.append(
            f"makes the SMS {parts} parts (in {lang!r}); the limit is {limits.sms_parts} "
            "([sms] max_parts)"
        )
    over, lang = _most_over(kind, texts, limits)
    if over > 0:
        hints.append(
            f"makes the push {over} bytes too large (in {lang!r}; [push] webpush_max_bytes "
            f"= {limits.webpush_bytes}, fcm_max_bytes = {limits.fcm_bytes})"
        )
    if hints:
        field, value = _longest(payload, prefix)
        hint = "; ".join(hints) + ": shorten it"
        raise ValidationError([FieldProblem(field, shown(field, value), hint)])
