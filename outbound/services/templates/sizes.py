"""Messages too long to send, refused when the event arrives instead of failing at dispatch.

A payload is rendered as every customer could get it — each locale with a template, the
opt-out footer on — and refused (a ``ValidationError`` naming the longest payload field) when
the SMS would need more than ``[sms] max_parts`` parts, or the push would exceed the smaller of
``[push] webpush_max_bytes`` (encrypted) and ``[push] fcm_max_bytes``. The worst case is used
because the check runs once per event, before it is known which customers a price drop
reaches and in which language each of them reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from outbound.channels.sms_text import plan
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.values import Channel, Kind
from outbound.schemas.base import shown
from outbound.services.templates.fields import FIELDS
from outbound.services.templates.loader import TemplateSet, TemplateStore, today_utc
from outbound.services.templates.render import shipped

#: the longest ``delivery_id`` a push can carry (a 64-bit id), for its size
_LONGEST_ID = str(2**63 - 1)
#: bytes of a push besides its title and text: JSON keys, ids, the Web Push record's frame
_PUSH_FRAME = 256
#: how much longer a formatted value can be than its stored form ("2026-09-30" ->
#: "30 de septiembre de 2026", "1000000000" -> "KWD 1,000,000,000.000")
_FORMAT_SLACK = 32


@dataclass(frozen=True)
class SizeLimits:
    """From config: ``[sms] max_parts``, ``[push] webpush_max_bytes`` / ``fcm_max_bytes`` /
    ``title`` and ``[brand] name``."""

    sms_parts: int = 6
    webpush_bytes: int = 4096
    fcm_bytes: int = 4000
    push_title: str = "Shop"
    brand: str = "Shop"
    #: the process's templates (reloaded on SIGHUP); the shipped ones when None
    templates: TemplateStore | None = field(default=None, compare=False)

    def current(self) -> TemplateSet:
        return (self.templates or shipped()).current


def _longest(payload: Mapping[str, Any], prefix: str) -> tuple[str, Any]:
    name = max(payload, key=lambda k: len(str(payload[k])))
    return f"{prefix}.{name}" if prefix else name, payload[name]


def sms_parts(
    kind: Kind, payload: Mapping[str, Any], brand: str, templates: TemplateSet | None = None
) -> tuple[int, str]:
    """The most SMS parts the payload renders to in any locale, and that locale."""
    chosen = templates or shipped().current
    today = today_utc()
    counts = [
        (len(plan(_text(chosen, kind, Channel.SMS, loc, payload, brand, today)).parts), loc)
        for loc in chosen.locales(kind.value, Channel.SMS)
    ]
    return max(counts, default=(0, ""))


def _text(
    chosen: TemplateSet,
    kind: Kind,
    channel: Channel,
    locale: str,
    payload: Mapping[str, Any],
    brand: str,
    today: date,
) -> str:
    return chosen.render(kind, channel, locale, payload, brand=brand, footer=True, today=today).text


def push_bytes(kind: Kind, payload: Mapping[str, Any], limits: SizeLimits) -> tuple[int, str]:
    """The largest push (as the tighter of the two services counts it) in any locale."""
    from outbound.channels.push import PushContent  # the push stack only when a check runs

    data = {"delivery_id": _LONGEST_ID, "kind": kind.value}
    chosen, today = limits.current(), today_utc()
    worst: list[tuple[int, str]] = []
    for loc in chosen.locales(kind.value, Channel.PUSH):
        rendered = chosen.render(
            kind, Channel.PUSH, loc, payload, brand=limits.brand, footer=False, today=today
        )
        content = PushContent(rendered.title or limits.push_title, rendered.text, data)
        over_web = content.webpush_size() - limits.webpush_bytes
        over_fcm = content.fcm_size() - limits.fcm_bytes
        worst.append((max(over_web, over_fcm), loc))
    return max(worst, default=(0, ""))


@lru_cache(maxsize=64)
def _frame(kind: Kind, brand: str, chosen: TemplateSet) -> tuple[int, int, int]:
    """The most UTF-16 units and UTF-8 bytes any locale's SMS or push text of ``kind`` has
    without its values (brand, footer and a push's title included), and how often one field
    can occur in one template."""
    empty = dict.fromkeys(FIELDS[kind.value], "")
    today = today_utc()
    units = octets = 0
    repeats = 1
    for channel in (Channel.SMS, Channel.PUSH):
        for loc in chosen.locales(kind.value, channel):
            rendered = chosen.render(
                kind, channel, loc, empty, brand=brand, footer=True, today=today
            )
            text = rendered.text + (rendered.title or "")
            units = max(units, len(text.encode("utf-16-le")) // 2)
            octets = max(octets, len(text.encode()))
            names = rendered.resolved.file.names
            repeats = max(repeats, *(n for f, n in names.items() if f in empty), 1)
    return units, octets, repeats


def warm(limits: SizeLimits) -> None:
    """Compute the frame of every kind now, for the templates in use."""
    for kind in Kind:
        _frame(kind, limits.brand, limits.current())


def _surely_fits(kind: Kind, payload: Mapping[str, Any], limits: SizeLimits) -> bool:
    """An upper bound on both sizes is within the limits (so nothing needs rendering): an SMS
    part holds at least 67 UTF-16 units (UCS-2; GSM-7 holds more), JSON escaping makes at
    most 6 bytes of one, and formatting lengthens a value by at most ``_FORMAT_SLACK``."""
    units, octets, repeats = _frame(kind, limits.brand, limits.current())
    values = [str(v) for v in payload.values()]
    slack = _FORMAT_SLACK * len(values)
    text_units = units + repeats * (sum(len(v.encode("utf-16-le")) // 2 for v in values) + slack)
    text_bytes = octets + repeats * (sum(len(v.encode()) for v in values) + slack)
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
    parts, lang = sms_parts(kind, payload, limits.brand, limits.current())
    if parts > limits.sms_parts:
        hints.append(
            f"makes the SMS {parts} parts (in {lang!r}); the limit is {limits.sms_parts} "
            "([sms] max_parts)"
        )
    over, lang = push_bytes(kind, payload, limits)
    if over > 0:
        hints.append(
            f"makes the push {over} bytes too large (in {lang!r}; [push] webpush_max_bytes "
            f"= {limits.webpush_bytes}, fcm_max_bytes = {limits.fcm_bytes})"
        )
    if hints:
        field, value = _longest(payload, prefix)
        hint = "; ".join(hints) + ": shorten it"
        raise ValidationError([FieldProblem(field, shown(field, value), hint)])
