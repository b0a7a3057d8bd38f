"""The renderer before templates were files (issue 19), kept as the dispatch benchmark's peer.

Texts in Python dicts (en, zh, ko, de), values printed raw, one sandboxed Jinja2 render per
message: what ``Dispatcher`` did before ``templates/<kind>/<channel>.<locale>.j2``, Babel
filters and the template evidence. ``benchmarks.run`` measures dispatch with this and with the
file templates in the same run (``--renderer``); the figures sit side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import Template, Undefined
from jinja2.sandbox import SandboxedEnvironment

from outbound.domain.values import Channel, Kind
from outbound.services.templates.render import MessageRenderer

#: the body of each kind per language; ``{{ brand }}`` is the sender's identity
BODIES: dict[str, dict[Kind, str]] = {
    "en": {
        Kind.SHIPPING: "{{ brand }}: your order {{ order_id }} is on its way with {{ carrier }} "
        "(tracking {{ tracking_no }}), arriving {{ eta }}.",
        Kind.RENEWAL: "{{ brand }}: your {{ tier }} membership expires on {{ expires_on }}. "
        "Renew: {{ renew_url }}",
        Kind.PRICE_DROP: "{{ brand }}: {{ title }} on your wishlist dropped from {{ old_price }} "
        "to {{ new_price }} {{ currency }}: {{ url }}",
    },
    "zh": {
        Kind.SHIPPING: "【{{ brand }}】您的订单{{ order_id }}已由{{ carrier }}发出"
        "（运单号{{ tracking_no }}），预计{{ eta }}送达。",
        Kind.RENEWAL: "【{{ brand }}】您的{{ tier }}会员将于{{ expires_on }}到期，"
        "续费：{{ renew_url }} ",
        Kind.PRICE_DROP: "【{{ brand }}】您心愿单中的{{ title }}已从{{ old_price }}降至"
        "{{ new_price }} {{ currency }}：{{ url }} ",
    },
    "ko": {
        Kind.SHIPPING: "[{{ brand }}] 주문 {{ order_id }}이(가) {{ carrier }}"
        "(송장 {{ tracking_no }})로 발송되었습니다. 도착 예정 {{ eta }}.",
        Kind.RENEWAL: "[{{ brand }}] {{ tier }} 멤버십이 {{ expires_on }}에 만료됩니다. "
        "갱신: {{ renew_url }}",
        Kind.PRICE_DROP: "[{{ brand }}] 위시리스트의 {{ title }} 가격이 {{ old_price }}에서 "
        "{{ new_price }} {{ currency }}(으)로 내렸습니다: {{ url }}",
    },
    "de": {
        Kind.SHIPPING: "{{ brand }}: Ihre Bestellung {{ order_id }} ist mit {{ carrier }} "
        "unterwegs (Sendung {{ tracking_no }}), Ankunft {{ eta }}.",
        Kind.RENEWAL: "{{ brand }}: Ihre {{ tier }}-Mitgliedschaft endet am {{ expires_on }}. "
        "Verlängern: {{ renew_url }}",
        Kind.PRICE_DROP: "{{ brand }}: {{ title }} auf Ihrer Wunschliste kostet jetzt "
        "{{ new_price }} {{ currency }} statt {{ old_price }}: {{ url }}",
    },
}

#: (language, kind, channel) -> a channel's own body, where it differs from the common one
CHANNEL_BODIES: dict[tuple[str, Kind, Channel], str] = {}

#: the opt-out footer per language, with the separator that goes before it
FOOTERS: dict[str, tuple[str, str]] = {
    "en": (" ", "Reply STOP to opt out."),
    "zh": ("", "回复TD退订"),
    "ko": (" ", "수신거부: STOP"),
    "de": (" ", "Abmelden: STOP"),
}


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, undefined=Undefined, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _template(source: str) -> Template:
    return _env().from_string(source)


def language_of(locale: str) -> str:
    language = locale.split("-")[0].lower()
    return language if language in BODIES else "en"


def render_message(
    kind: Kind,
    channel: Channel,
    locale: str,
    payload: Mapping[str, Any],
    *,
    brand: str,
    footer: bool,
) -> str:
    language = language_of(locale)
    source = CHANNEL_BODIES.get((language, kind, channel), BODIES[language][kind])
    text = _template(source).render({**payload, "brand": brand})
    if footer:
        separator, words = FOOTERS[language]
        text = text.rstrip() + separator + words if separator else text + words
    return text


@dataclass(frozen=True)
class LegacyText:
    text: str
    title: str | None = None
    evidence: dict[str, Any] | None = None  # nothing recorded: the old dispatch recorded none


class LegacyRenderer(MessageRenderer):
    """``MessageRenderer``'s interface over the old dicts (for ``Dispatcher.renderer``)."""

    def render(  # type: ignore[override]
        self,
        kind: Kind,
        channel: Channel,
        locale: str,
        country: str | None,
        payload: Mapping[str, Any],
        *,
        templates: Any = None,
        today: date | None = None,
    ) -> LegacyText:
        footer = self.footer(channel, country)
        return LegacyText(
            render_message(kind, channel, locale, payload, brand=self.brand, footer=footer)
        )

    def current(self) -> Any:
        return None
