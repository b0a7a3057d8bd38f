"""Per-channel sandboxed templates: sender identity, opt-out footer, length known up front."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from outbound.domain.values import Channel, Kind
from outbound.services.templates.render import preview, render, render_message
from outbound.services.templates.sandbox import environment
from tests.integration.helpers import shipping


def test_chinese_sms_carries_the_sender_and_the_td_footer() -> None:
    text = render(Kind.SHIPPING, "zh-CN", shipping("A1"), "优品")
    assert text.startswith("【优品】") and text.endswith("回复TD退订")


def test_footer_is_left_out_where_the_policy_does_not_require_it() -> None:
    text = render_message(Kind.SHIPPING, Channel.SMS, "en-US", shipping("A1"), footer=False)
    assert text.startswith("Shop: your order A1") and "STOP" not in text


def test_preview_counts_sms_parts_before_sending() -> None:
    long_title = {"title": "Kettle " * 30, "old_price": "10", "new_price": "8", "currency": "USD"}
    short = preview(Kind.SHIPPING, Channel.SMS, "en-US", shipping("A1"))
    long = preview(Kind.PRICE_DROP, Channel.SMS, "en-US", {**long_title, "url": "https://x.test"})
    chinese = preview(Kind.SHIPPING, Channel.SMS, "zh-CN", shipping("A1"))
    assert (short.encoding, short.parts) == ("gsm7", 1)
    assert long.parts == 2 and long.units == len(long.text)
    assert chinese.encoding == "ucs2" and chinese.units == chinese.chars


def test_templates_run_sandboxed() -> None:
    with pytest.raises(SecurityError):
        environment().from_string("{{ x.__class__.__subclasses__() }}").render(x=1)
