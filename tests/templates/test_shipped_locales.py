"""Every shipped language against text written by hand: one fixed payload per kind, as the
customer reads it (prices, dates and plurals in their locale, the opt-out footer on SMS)."""

from __future__ import annotations

from datetime import date

import pytest

from outbound.domain.values import Channel, Kind
from outbound.services.templates import filters
from outbound.services.templates.render import preview, render_message, shipped

TODAY = date(2026, 12, 6)
PRICE_DROP = {
    "sku": "K1",
    "title": "Kettle",
    "old_price": "119.90",
    "new_price": "99.90",
    "currency": "EUR",
    "url": "https://shop.test/k",
}
RENEWAL = {"tier": "Gold", "expires_on": "2026-12-09", "renew_url": "https://shop.test/r"}
SHIPPING = {"order_id": "A1001", "carrier": "DHL", "tracking_no": "JD0001", "eta": "2026-12-09"}

PRICE_DROP_SMS = {
    "en-US": "Shop: Kettle on your wishlist dropped from €119.90 to €99.90: https://shop.test/k Reply STOP to opt out.",
    "de-DE": "Shop: Kettle auf Ihrer Wunschliste kostet jetzt 99,90 € statt 119,90 €: https://shop.test/k Abmelden: STOP",
    "fr-FR": "Shop : le prix de Kettle, dans votre liste d'envies, est passé de 119,90 € à 99,90 € : https://shop.test/k Désabonnement : répondez STOP",
    "es-ES": "Shop: el precio de Kettle, de tu lista de deseos, ha bajado de 119,90 € a 99,90 €: https://shop.test/k Baja: responde STOP",
    "it-IT": "Shop: il prezzo di Kettle, nella tua lista dei desideri, è sceso da 119,90 € a 99,90 €: https://shop.test/k Disiscriviti: rispondi STOP",
    "pt-BR": "Shop: o preço de Kettle, da sua lista de desejos, baixou de € 119,90 para € 99,90: https://shop.test/k Para sair, responda STOP",
    "nl-NL": "Shop: de prijs van Kettle op je verlanglijst is verlaagd van € 119,90 naar € 99,90: https://shop.test/k Afmelden: stuur STOP",
    "ja-JP": "【Shop】ほしい物リストのKettleが€119.90から€99.90に値下がりしました：https://shop.test/k 配信停止はSTOPと返信",
    "zh-CN": "【Shop】您心愿单中的Kettle已从€119.90降至€99.90：https://shop.test/k 回复TD退订",
    "zh-TW": "【Shop】您願望清單中的Kettle已從€119.90降至€99.90：https://shop.test/k 退訂請回覆STOP",
    "ko-KR": "(광고)[Shop] 위시리스트에 담은 Kettle의 가격이 내렸습니다: €119.90 → €99.90. https://shop.test/k 수신거부: STOP",
}

RENEWAL_SMS = {
    "en-US": "Shop: your Gold membership expires on December 9, 2026. Renew: https://shop.test/r Reply STOP to opt out.",
    "de-DE": "Shop: Ihre Gold-Mitgliedschaft endet am 9. Dezember 2026. Verlängern: https://shop.test/r Abmelden: STOP",
    "fr-FR": "Shop : votre abonnement Gold expire le 9 décembre 2026. Renouveler : https://shop.test/r Désabonnement : répondez STOP",
    "es-ES": "Shop: tu plan Gold vence el 9 de diciembre de 2026. Renuévalo: https://shop.test/r Baja: responde STOP",
    "it-IT": "Shop: il tuo abbonamento Gold scade il 9 dicembre 2026. Rinnova: https://shop.test/r Disiscriviti: rispondi STOP",
    "pt-BR": "Shop: sua assinatura Gold vence em 9 de dezembro de 2026. Renove: https://shop.test/r Para sair, responda STOP",
    "nl-NL": "Shop: je Gold-lidmaatschap verloopt op 9 december 2026. Verlengen: https://shop.test/r Afmelden: stuur STOP",
    "ja-JP": "【Shop】Gold会員の有効期限は2026年12月9日です。更新はこちら：https://shop.test/r 配信停止はSTOPと返信",
    "zh-CN": "【Shop】您的Gold会员将于2026年12月9日到期，续费：https://shop.test/r 回复TD退订",
    "zh-HK": "【Shop】您的Gold會員將於2026年12月9日到期，續約：https://shop.test/r 退訂請回覆STOP",
    "ko-KR": "[Shop] Gold 멤버십이 2026년 12월 9일에 만료됩니다. 갱신하기: https://shop.test/r 수신거부: STOP",
}

#: a push title with a count in it: "in 3 days" in each language's plural
RENEWAL_PUSH_TITLE = {
    "en-GB": "Your Gold membership ends in 3 days",
    "de-AT": "Ihre Gold-Mitgliedschaft endet in 3 Tagen",
    "fr-BE": "Votre abonnement Gold expire dans 3 jours",
    "es-MX": "Tu plan Gold vence dentro de 3 días",
    "it-CH": "Il tuo abbonamento Gold scade tra 3 giorni",
    "pt-PT": "Sua assinatura Gold vence dentro de 3 dias",  # European Portuguese
    "nl-BE": "Je Gold-lidmaatschap verloopt over 3 dagen",
    "ja-JP": "Gold会員の有効期限は3 日後です",
    "zh-SG": "您的Gold会员将于3天后到期",
    "zh-TW": "您的Gold會員將於3 天後到期",
    "ko-KR": "Gold 멤버십이 3일 후 만료됩니다",
}


@pytest.mark.parametrize("locale", sorted(PRICE_DROP_SMS))
def test_price_drop_sms_reads_like_the_customers_language(locale: str) -> None:
    text = render_message(Kind.PRICE_DROP, Channel.SMS, locale, PRICE_DROP, today=TODAY)
    assert text == PRICE_DROP_SMS[locale]


@pytest.mark.parametrize("locale", sorted(RENEWAL_SMS))
def test_renewal_sms_writes_the_date_as_the_customer_does(locale: str) -> None:
    text = render_message(Kind.RENEWAL, Channel.SMS, locale, RENEWAL, today=TODAY)
    assert text == RENEWAL_SMS[locale]


@pytest.mark.parametrize("locale", sorted(RENEWAL_PUSH_TITLE))
def test_renewal_push_title_counts_the_days_with_the_languages_plural(locale: str) -> None:
    rendered = shipped().current.render(
        Kind.RENEWAL, Channel.PUSH, locale, RENEWAL, brand="Shop", footer=False, today=TODAY
    )
    assert rendered.title == RENEWAL_PUSH_TITLE[locale]


def test_one_day_left_is_singular() -> None:
    rendered = shipped().current.render(
        Kind.RENEWAL,
        Channel.PUSH,
        "en",
        {**RENEWAL, "expires_on": "2026-12-07"},
        brand="Shop",
        footer=False,
        today=TODAY,
    )
    assert rendered.title == "Your Gold membership ends in 1 day"


def test_german_shipping_push_has_a_title_and_the_date_in_words() -> None:
    rendered = shipped().current.render(
        Kind.SHIPPING, Channel.PUSH, "de-DE", SHIPPING, brand="Shop", footer=False, today=TODAY
    )
    assert rendered.title == "Ihre Bestellung ist unterwegs"
    assert rendered.text == (
        "Shop: Bestellung A1001 ist mit DHL unterwegs (Sendung JD0001) und kommt "
        "voraussichtlich am 9. Dezember 2026."
    )


def test_push_keeps_the_no_break_space_that_sms_replaces() -> None:
    push = render_message(Kind.PRICE_DROP, Channel.PUSH, "fr-FR", PRICE_DROP, footer=False)
    assert push == "Shop : le prix est passé de 119,90\u00a0€ à 99,90\u00a0€. https://shop.test/k"


def test_french_sms_stays_gsm7_in_one_part() -> None:
    shown = preview(Kind.PRICE_DROP, Channel.SMS, "fr-FR", PRICE_DROP, today=TODAY)
    chars = len(PRICE_DROP_SMS["fr-FR"])
    # each € is a GSM-7 extension character: two septets
    assert (shown.encoding, shown.parts, shown.chars, shown.units) == ("gsm7", 1, chars, chars + 2)


@pytest.mark.parametrize(
    ("locale", "amount", "currency", "expected"),
    [
        ("ja-JP", "1200", "JPY", "￥1,200"),
        ("en-US", "1200", "JPY", "¥1,200"),
        ("en-US", "12.5", "KWD", "KWD12.500"),
        ("de-DE", "1234567.89", "EUR", "1.234.567,89 €"),
        ("en-US", "0.10", "USD", "$0.10"),
    ],
)
def test_the_currency_decides_the_decimals(
    locale: str, amount: str, currency: str, expected: str
) -> None:
    payload = {**PRICE_DROP, "old_price": "99999999", "new_price": amount, "currency": currency}
    text = render_message(Kind.PRICE_DROP, Channel.SMS, locale, payload, today=TODAY)
    assert expected.replace("\u00a0", " ") in text.replace("\u00a0", " ")


def test_a_float_price_is_refused_rather_than_rounded_silently() -> None:
    with pytest.raises(filters.FormatError, match="not exact"):
        filters.format_currency(filters.babel_locale("en"), 0.1 + 0.2, "USD")


@pytest.mark.parametrize(
    ("locale", "template"),
    [
        ("fr-CA", "price_drop/sms.fr.j2"),
        ("zh-CN", "price_drop/sms.zh-Hans.j2"),
        ("zh-HK", "price_drop/sms.zh-Hant.j2"),
        ("zh-Hant-TW", "price_drop/sms.zh-Hant.j2"),
        ("pl-PL", "price_drop/sms.en.j2"),
        ("", "price_drop/sms.en.j2"),
    ],
)
def test_locale_falls_back_to_the_language_then_the_default(locale: str, template: str) -> None:
    shown = preview(Kind.PRICE_DROP, Channel.SMS, locale, PRICE_DROP, today=TODAY)
    assert shown.template == template


def test_a_french_canadian_customer_is_told_which_template_was_used() -> None:
    resolved = shipped().current.resolve("price_drop", Channel.SMS, "fr-CA")
    assert resolved is not None
    assert resolved.note == "rendered in fr (no fr-CA template)"


def test_a_canadian_customer_sees_canadian_number_formats_in_french_words() -> None:
    payload = {**PRICE_DROP, "old_price": "1299.00", "new_price": "999.00", "currency": "CAD"}
    text = render_message(Kind.PRICE_DROP, Channel.SMS, "fr-CA", payload, today=TODAY)
    assert "est passé de 1 299,00 $ à 999,00 $" in text
