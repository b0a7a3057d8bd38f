"""Small values of the push channel: Retry-After, subscription keys, token commands, config."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from outbound.channels.push import retry_after
from outbound.channels.push_auth import CommandTokens
from outbound.channels.window import Aimd, AsyncWindow
from outbound.config import load_settings
from outbound.domain.errors import TransientChannelError, ValidationError
from outbound.domain.masking import mask_endpoint
from outbound.schemas.customers import validate_record
from tests.conftest import CONFIG_DIR
from tests.push.peers import UserAgent

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def test_retry_after_accepts_seconds_and_http_dates_and_ignores_garbage() -> None:
    assert retry_after("120", NOW) == 120.0
    assert retry_after(format_datetime(NOW + timedelta(minutes=5), usegmt=True), NOW) == 300.0
    assert retry_after(format_datetime(NOW - timedelta(minutes=5), usegmt=True), NOW) == 0.0
    assert retry_after("soon", NOW) is None and retry_after(None, NOW) is None


def test_webpush_keys_are_kept_per_endpoint_and_bad_keys_are_named() -> None:
    keys = UserAgent("ua").keys()
    sub = {"kind": "webpush", "endpoint": "https://push.example/abc", "keys": keys}
    record = validate_record({"external_id": "C1", "push_subscriptions": [sub]})
    assert record.push_keys == (("https://push.example/abc", keys["p256dh"], keys["auth"]),)
    bad = {**sub, "keys": {"p256dh": "AAAA", "auth": keys["auth"]}}
    with pytest.raises(ValidationError, match=r"push_subscriptions\[0\]\.keys\.p256dh"):
        validate_record({"external_id": "C1", "push_subscriptions": [bad]})


def test_a_failing_token_command_is_transient_and_does_not_show_its_output() -> None:
    tokens = CommandTokens("sh -c 'echo secret-ish >&2; exit 3'")
    with pytest.raises(TransientChannelError, match="exited 3") as caught:
        tokens.token()
    assert "secret-ish" not in str(caught.value)
    assert CommandTokens("printf tok-1").token() == "tok-1"


def test_endpoints_are_masked_to_origin_and_last_four() -> None:
    assert mask_endpoint("https://fcm.googleapis.com/fcm/send/abcdef123456") == (
        "https://fcm.googleapis.com/…3456"
    )
    assert mask_endpoint("app-token-9876") == "…9876"


def test_push_stays_on_the_log_sink_by_default() -> None:
    settings = load_settings(CONFIG_DIR, environ={})
    assert settings.push.adapter == "log"
    assert settings.push.webpush_max_bytes == 4096
    assert settings.push.fcm_max_bytes == 4000


def test_aimd_halves_once_per_round_trip_and_grows_by_one_up_to_the_limit() -> None:
    window = Aimd(8)
    sent_in = window.epoch
    for _ in range(4):  # four throttled answers to requests of one round trip
        window.shrink(sent_in)
    assert (window.size, window.halvings) == (4, 1)
    window.shrink(window.epoch)  # one to a request sent after the halving
    assert window.size == 2
    for _ in range(10):
        window.grow()
    assert (window.size, window.smallest) == (8, 2)
    with pytest.raises(ValueError, match="window 0 must be at least 1"):
        Aimd(0)


def test_async_window_wakes_waiters_in_order_one_per_free_slot() -> None:
    async def scenario() -> list[int]:
        window = AsyncWindow(Aimd(2))
        order: list[int] = []
        await window.acquire()
        await window.acquire()

        async def wait(n: int) -> None:
            await window.acquire()
            order.append(n)

        waiters = [asyncio.create_task(wait(n)) for n in range(3)]
        await asyncio.sleep(0)
        assert order == [] and window.outstanding == 2
        window.release(0, answered=True)  # one slot: the first waiter, no one else
        await asyncio.sleep(0)
        assert order == [0] and window.outstanding == 2
        waiters[2].cancel()  # a cancelled waiter gives up its place
        window.release(0, answered=True)
        await asyncio.gather(*waiters[:2])
        assert window.most == 2 and window.outstanding == 2
        return order

    assert asyncio.run(scenario()) == [0, 1]
