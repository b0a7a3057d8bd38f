from __future__ import annotations

from outbound.domain.values import Channel, Kind
from outbound.policy.preference import channel_ladder

PUSH, SMS, VOICE = Channel.PUSH, Channel.SMS, Channel.VOICE


def test_ladder_follows_the_customers_ranking() -> None:
    assert channel_ladder(Kind.SHIPPING, (VOICE, PUSH, SMS), ()) == (VOICE, PUSH, SMS)


def test_ladder_defaults_to_the_kinds_order_without_a_preference() -> None:
    assert channel_ladder(Kind.RENEWAL, (), ()) == (PUSH, SMS, VOICE)


def test_ladder_drops_channels_already_tried() -> None:
    assert channel_ladder(Kind.SHIPPING, (SMS, VOICE, PUSH), {SMS}) == (VOICE, PUSH)


def test_ladder_keeps_only_ranked_channels_when_a_preference_exists() -> None:
    assert channel_ladder(Kind.PRICE_DROP, (SMS,), ()) == (SMS,)


def test_ladder_is_empty_when_every_channel_was_tried() -> None:
    assert channel_ladder(Kind.SHIPPING, (), {PUSH, SMS, VOICE}) == ()


def test_ladder_ignores_duplicate_ranks() -> None:
    assert channel_ladder(Kind.SHIPPING, (SMS, SMS, PUSH), ()) == (SMS, PUSH)
