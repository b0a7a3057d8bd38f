"""A shipment the platform gives no delivery date for reads naturally in every language: the
templates and the voice prompt leave the date clause out (expected text written by hand)."""

from __future__ import annotations

from datetime import date

import pytest

from outbound.domain.values import Channel, Kind
from outbound.services.templates.render import render_message, shipped
from outbound.voice import template
from outbound.voice.flow import flows_dir, load_kind

TODAY = date(2026, 12, 6)
NO_ETA = {"order_id": "#9999", "carrier": "UPS", "tracking_no": "1Z2345", "shipment_id": "123456"}


def test_english_sms_and_push_without_eta_say_no_date() -> None:
    sms = render_message(Kind.SHIPPING, Channel.SMS, "en-US", NO_ETA, today=TODAY)
    assert sms == (
        "Shop: your order #9999 is on its way with UPS (tracking 1Z2345). Reply STOP to opt out."
    )
    push = shipped().current.render(
        Kind.SHIPPING, Channel.PUSH, "en-US", NO_ETA, brand="Shop", footer=False, today=TODAY
    )
    assert (push.title, push.text) == (
        "Your order is on its way",
        "Shop: order #9999 is with UPS (tracking 1Z2345).",
    )


def test_german_sms_and_push_without_eta_say_no_date() -> None:
    sms = render_message(Kind.SHIPPING, Channel.SMS, "de-DE", NO_ETA, today=TODAY)
    assert (
        sms == "Shop: Ihre Bestellung #9999 ist mit UPS unterwegs (Sendung 1Z2345). Abmelden: STOP"
    )
    push = shipped().current.render(
        Kind.SHIPPING, Channel.PUSH, "de-DE", NO_ETA, brand="Shop", footer=False, today=TODAY
    )
    assert push.text == "Shop: Bestellung #9999 ist mit UPS unterwegs (Sendung 1Z2345)."


def test_chinese_sms_without_eta_ends_the_sentence_after_the_tracking_number() -> None:
    sms = render_message(Kind.SHIPPING, Channel.SMS, "zh-CN", NO_ETA, today=TODAY)
    assert sms.startswith("【Shop】您的订单#9999已由UPS发出（运单号1Z2345）。")


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.PUSH])
@pytest.mark.parametrize("locale", shipped().current.locales("shipping", Channel.SMS))
def test_every_locale_renders_without_eta_and_without_a_dangling_date_clause(
    locale: str, channel: Channel
) -> None:
    rendered = shipped().current.render(
        Kind.SHIPPING, channel, locale, NO_ETA, brand="Shop", footer=True, today=TODAY
    )
    with_eta = shipped().current.render(
        Kind.SHIPPING,
        channel,
        locale,
        {**NO_ETA, "eta": "2026-12-09"},
        brand="Shop",
        footer=True,
        today=TODAY,
    )
    assert "1Z2345" in rendered.text and "None" not in rendered.text
    assert "2026" in with_eta.text and "2026" not in rendered.text
    assert len(rendered.text) < len(with_eta.text)
    for dangling in (", .", " .", "，。", ",,", ": ."):
        assert dangling not in rendered.text


def test_voice_prompt_leaves_out_the_arrival_when_there_is_no_eta() -> None:
    text = "Your order {order_id} is on its way with {carrier}[[, arriving {eta}]]. Press 2 to confirm."
    values = {"order_id": "#9999", "carrier": "UPS"}
    assert template.render(text, values) == (
        "Your order #9999 is on its way with UPS. Press 2 to confirm."
    )
    assert template.render(text, {**values, "eta": "December 9"}) == (
        "Your order #9999 is on its way with UPS, arriving December 9. Press 2 to confirm."
    )
    assert template.problems(text, {"order_id", "carrier", "eta"}) == []
    assert template.problems("on its way[[, arriving {eta}.", {"eta"}) != []


def test_the_shipped_voice_flow_drops_the_arrival_clause_in_every_locale() -> None:
    flow = load_kind("shipping", flows_dir())
    intro = flow.steps[flow.start].text
    values = {"brand": "Shop", "order_id": "#9999", "carrier": "UPS"}
    assert template.render(intro["en-US"], values).startswith(
        "Hello, this is Shop. To stop these calls, press 9 or say stop. Your order #9999 is on "
        "its way with UPS. Press 2"
    )
    assert "Ihre Bestellung #9999 ist mit UPS unterwegs. Zum Bestätigen" in template.render(
        intro["de-DE"], values
    )
    for locale, text in intro.items():
        without, with_eta = (
            template.render(text, values),
            template.render(text, {**values, "eta": "2026-12-09"}),
        )
        assert "[[" not in without and "]]" not in without and "{" not in without, locale
        if "{eta}" in text:  # ko-KR never says the date
            assert "2026-12-09" in with_eta and "2026-12-09" not in without, locale
