"""Encoding choice and part counts, known before anything is sent."""

from __future__ import annotations

import pytest

from outbound.channels.sms_text import gsm7_decode, plan


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("订" * 70, "ucs2", 1),
        ("订" * 71, "ucs2", 2),
        ("订" * 134, "ucs2", 2),
        ("订" * 135, "ucs2", 3),
    ],
)
def test_single_and_concatenated_limits_are_160_70_and_153_67_per_part(
    text: str, encoding: str, parts: int
) -> None:
    sms = plan(text)
    assert (sms.encoding, len(sms.parts)) == (encoding, parts)


def test_chinese_text_goes_as_ucs2_and_latin_text_as_gsm7() -> None:
    assert plan("您的订单已发出").encoding == "ucs2"
    assert plan("Your order A1 is on its way. Reply STOP to opt out.").encoding == "gsm7"


def test_extension_characters_count_twice_and_are_never_split_across_parts() -> None:
    sms = plan("a" * 152 + "€" + "b" * 10)
    assert sms.units == 152 + 2 + 10
    assert [len(p) for p in sms.parts] == [152, 12]
    assert gsm7_decode(b"".join(sms.parts)) == "a" * 152 + "€" + "b" * 10


def test_a_surrogate_pair_is_never_split_across_ucs2_parts() -> None:
    sms = plan("订" * 66 + "😀" + "订" * 10)
    assert len(sms.parts[0]) == 132  # 66 code units: the emoji (2 units) moved to part 2
    assert b"".join(sms.parts).decode("utf-16-be") == "订" * 66 + "😀" + "订" * 10
