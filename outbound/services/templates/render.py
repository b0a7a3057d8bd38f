"""Message text per kind × channel × locale: sandboxed Jinja2 templates.

Every text names the sender (``brand``); the opt-out footer ("Reply STOP to opt out",
"回复TD退订") is added where config/policies.toml requires it for the channel
(``[<CODE>.messaging] footer_channels``). Templates are data rendered in a
``SandboxedEnvironment``: a template can read the payload, never call into Python.
``preview`` gives the rendered length and SMS part count before anything is sent;
``MessageRenderer`` decides brand and footer per customer, for dispatch and preview alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined
from jinja2.sandbox import SandboxedEnvironment

from outbound.channels.sms_text import plan
from outbound.domain.values import Channel, Kind
from outbound.policy.messaging import MessagingRules
from outbound.policy.model import Rules

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


@dataclass(frozen=True)
class Preview:
    text: str
    chars: int
    encoding: str  # gsm7 | ucs2 for SMS, utf-8 otherwise
    units: int  # septets / UTF-16 units for SMS, UTF-8 bytes otherwise
    parts: int  # SMS parts (1 for push and voice)


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
    brand: str = "Shop",
    footer: bool = True,
) -> str:
    """The text for one channel; ``footer`` comes from the jurisdiction's footer_channels."""
    language = language_of(locale)
    source = CHANNEL_BODIES.get((language, kind, channel), BODIES[language][kind])
    text = _template(source).render({**payload, "brand": brand})
    if footer:
        separator, words = FOOTERS[language]
        text = text.rstrip() + separator + words if separator else text + words
    return text


def every_text(
    kind: Kind,
    payload: Mapping[str, Any],
    *,
    brand: str,
    channels: tuple[Channel, ...] = (Channel.SMS, Channel.PUSH),
) -> dict[tuple[Channel, str], str]:
    """(channel, language) -> the text of ``kind`` in every language, footer on: every text a
    customer could get, for size checks that must hold for the longest of them."""
    return {
        (channel, lang): render_message(kind, channel, lang, payload, brand=brand)
        for channel in channels
        for lang in BODIES
    }


def render(kind: Kind, locale: str, payload: Mapping[str, Any], brand: str = "Shop") -> str:
    """The SMS text with its footer (what every channel used before per-channel templates)."""
    return render_message(kind, Channel.SMS, locale, payload, brand=brand, footer=True)


def preview(
    kind: Kind,
    channel: Channel,
    locale: str,
    payload: Mapping[str, Any],
    *,
    brand: str = "Shop",
    footer: bool = True,
) -> Preview:
    """Rendered length and SMS part count, before sending (for ``campaign preview``)."""
    text = render_message(kind, channel, locale, payload, brand=brand, footer=footer)
    if channel is Channel.SMS:
        sms = plan(text)
        return Preview(text, len(text), sms.encoding, sms.units, len(sms.parts))
    return Preview(text, len(text), "utf-8", len(text.encode()), 1)


@dataclass(frozen=True)
class MessageRenderer:
    """The text a customer gets: brand, and the opt-out footer where their jurisdiction's
    ``[<CODE>.messaging] footer_channels`` ask for it (SMS when no messaging rules are given).

    Dispatch and ``campaign preview`` both render through this, so a preview's part count is
    what is sent. ``MessageRenderer(rules, messaging, brand).text(kind, channel, locale,
    country, payload)`` is the message body; ``.preview(...)`` adds its length and SMS parts.
    """

    rules: Rules
    messaging: MessagingRules | None = None
    brand: str = "Shop"

    def footer(self, channel: Channel, country: str | None) -> bool:
        if self.messaging is None:
            return channel is Channel.SMS
        code = self.rules.for_country(country).code
        return channel in self.messaging.for_code(code).footer_channels

    def text(
        self,
        kind: Kind,
        channel: Channel,
        locale: str,
        country: str | None,
        payload: Mapping[str, Any],
    ) -> str:
        footer = self.footer(channel, country)
        return render_message(kind, channel, locale, payload, brand=self.brand, footer=footer)

    def preview(
        self,
        kind: Kind,
        channel: Channel,
        locale: str,
        country: str | None,
        payload: Mapping[str, Any],
    ) -> Preview:
        footer = self.footer(channel, country)
        return preview(kind, channel, locale, payload, brand=self.brand, footer=footer)


def strict_check(source: str, fields: set[str]) -> None:
    """Render a template with only ``fields`` known: a typo in a field name raises here."""
    env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
    env.from_string(source).render({f: "x" for f in fields})
