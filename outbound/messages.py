"""Message text per kind and locale (plain templates; per-channel Jinja2 templates come with the
SMS/push adapters). Every text names the sender and how to opt out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outbound.domain import Kind

TEMPLATES: dict[str, dict[Kind, str]] = {
    "en": {
        Kind.SHIPPING: "{brand}: your order {order_id} is on its way with {carrier} "
        "(tracking {tracking_no}), arriving {eta}. Reply STOP to opt out.",
        Kind.RENEWAL: "{brand}: your {tier} membership expires on {expires_on}. "
        "Renew: {renew_url} Reply STOP to opt out.",
        Kind.PRICE_DROP: "{brand}: {title} on your wishlist dropped from {old_price} to "
        "{new_price} {currency}: {url} Reply STOP to opt out.",
    },
    "zh": {
        Kind.SHIPPING: "【{brand}】您的订单{order_id}已由{carrier}发出（运单号{tracking_no}），"
        "预计{eta}送达。回复TD退订",
        Kind.RENEWAL: "【{brand}】您的{tier}会员将于{expires_on}到期，续费：{renew_url} 回复TD退订",
        Kind.PRICE_DROP: "【{brand}】您心愿单中的{title}已从{old_price}降至{new_price} {currency}："
        "{url} 回复TD退订",
    },
    "ko": {
        Kind.SHIPPING: "[{brand}] 주문 {order_id}이(가) {carrier}(송장 {tracking_no})로 발송되었습니다. "
        "도착 예정 {eta}. 수신거부: STOP",
        Kind.RENEWAL: "[{brand}] {tier} 멤버십이 {expires_on}에 만료됩니다. 갱신: {renew_url} "
        "수신거부: STOP",
        Kind.PRICE_DROP: "[{brand}] 위시리스트의 {title} 가격이 {old_price}에서 {new_price} "
        "{currency}(으)로 내렸습니다: {url} 수신거부: STOP",
    },
    "de": {
        Kind.SHIPPING: "{brand}: Ihre Bestellung {order_id} ist mit {carrier} unterwegs "
        "(Sendung {tracking_no}), Ankunft {eta}. Abmelden: STOP",
        Kind.RENEWAL: "{brand}: Ihre {tier}-Mitgliedschaft endet am {expires_on}. "
        "Verlängern: {renew_url} Abmelden: STOP",
        Kind.PRICE_DROP: "{brand}: {title} auf Ihrer Wunschliste kostet jetzt {new_price} "
        "{currency} statt {old_price}: {url} Abmelden: STOP",
    },
}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(kind: Kind, locale: str, payload: Mapping[str, Any], brand: str = "Shop") -> str:
    language = locale.split("-")[0].lower()
    template = TEMPLATES.get(language, TEMPLATES["en"])[kind]
    return template.format_map(_Blank(payload, brand=brand))
