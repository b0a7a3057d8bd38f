"""Each HTTP SMS provider feeds ``outbound_provider_request_seconds{provider}`` (one observation
per request, throttled ones too) and its window gauges: after a throttling answer and a success
on a window of 4 the window is 3 (halved to 2, then widened by one) and nothing is in flight.
Real adapters against loopback servers shaped like the providers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from outbound.channels.aliyun import AliyunSettings, AliyunSms, Template
from outbound.channels.base import Message
from outbound.channels.http_sms import HttpSms
from outbound.channels.twilio import TwilioSettings, TwilioSms
from outbound.channels.vonage import VonageSettings, VonageSms
from outbound.domain.values import Accepted, Channel, Kind
from outbound.observability import metrics
from outbound.testing.aliyun import AliyunService
from outbound.testing.twilio import TwilioService
from outbound.testing.vonage import VonageService
from tests.integration.helpers import NY, SHANGHAI
from tests.providers.conftest import ACCOUNT, FROM, TOKEN


class Unlimited:
    def acquire(self) -> None:
        return None


def _twilio() -> tuple[HttpSms[Any], Callable[[], None], Callable[[], None], str]:
    service = TwilioService(ACCOUNT, TOKEN)
    settings = TwilioSettings(ACCOUNT, TOKEN, FROM, api_base=service.url, window=4)
    return TwilioSms(settings, Unlimited()), lambda: service.script(429), service.close, NY


def _vonage() -> tuple[HttpSms[Any], Callable[[], None], Callable[[], None], str]:
    service = VonageService("abcd1234", "vonage-api-secret-55aa")
    settings = VonageSettings(
        "abcd1234", "vonage-api-secret-55aa", "Shop", api_base=service.url, window=4
    )
    return VonageSms(settings, Unlimited()), lambda: service.script("1"), service.close, NY


def _aliyun() -> tuple[HttpSms[Any], Callable[[], None], Callable[[], None], str]:
    service = AliyunService("aliyun-key-id", "aliyun-secret")
    settings = AliyunSettings(
        "aliyun-key-id",
        "aliyun-secret",
        "商店",
        {"shipping": Template("SMS_900001")},
        api_base=service.url,
        window=4,
    )
    throttle = lambda: service.script("isv.BUSINESS_LIMIT_CONTROL")  # noqa: E731
    return AliyunSms(settings, Unlimited()), throttle, service.close, SHANGHAI


PROVIDERS = {"twilio": _twilio, "vonage": _vonage, "aliyun": _aliyun}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[str, HttpSms[Any], Callable[[], None], str]]:
    adapter, throttle, close, phone = PROVIDERS[request.param]()
    yield request.param, adapter, throttle, phone
    adapter.close()
    close()


def _sample(name: str, provider: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"provider": provider}) or 0.0


def test_a_send_feeds_the_providers_latency_histogram_and_window_gauges(
    provider: tuple[str, HttpSms[Any], Callable[[], None], str],
) -> None:
    name, adapter, throttle_once, phone = provider
    before = _sample("outbound_provider_request_seconds_count", name)

    accepted = adapter.send(Message(1, Channel.SMS, Kind.SHIPPING, 1, phone, "en-US", "hello"))
    assert isinstance(accepted, Accepted)
    assert _sample("outbound_provider_request_seconds_count", name) == before + 1
    assert _sample("outbound_provider_window", name) == 4
    assert _sample("outbound_provider_in_flight", name) == 0

    throttle_once()
    adapter.send(Message(2, Channel.SMS, Kind.SHIPPING, 2, phone, "en-US", "hello"))
    assert _sample("outbound_provider_request_seconds_count", name) == before + 3
    assert _sample("outbound_provider_request_seconds_sum", name) > 0
    assert _sample("outbound_provider_window", name) == 3
    assert _sample("outbound_provider_in_flight", name) == 0
