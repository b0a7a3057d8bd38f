"""Push batches: many requests in flight per provider, throttling, and mixed outcomes.

Against the loopback services of ``outbound.testing.peers`` (HTTP/1.1, told to answer late so
requests pile up) and the FCM-shaped HTTP/2 server of ``outbound.testing.fcm_latency`` (its own
process, TLS), which counts the streams it holds on one connection.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.channels.push import PushChannel
from outbound.domain.errors import PermanentChannelError, TransientChannelError
from outbound.domain.values import Channel, Kind, SendResult
from outbound.store.tables import push_subscriptions
from outbound.testing.fcm_latency import LatencyFcm
from tests.integration.helpers import add_customer, count
from tests.push.peers import FcmService, Reply, WebPushService, fcm_error

AppFactory = Callable[..., bootstrap.App]


def _adapter(app: bootstrap.App) -> PushChannel:
    adapter = app.channels()[Channel.PUSH]
    assert isinstance(adapter, PushChannel)
    return adapter


def _subscribed(app: bootstrap.App, n: int, sub: dict[str, Any]) -> Message:
    cid = add_customer(
        app, f"C{n}", f"+1212555{n:04d}", preference="push", push_subscriptions=[sub]
    )
    return Message(n, Channel.PUSH, Kind.SHIPPING, cid, sub["endpoint"], "en-US", f"order {n}")


def _fcm_batch(app: bootstrap.App, count: int, prefix: str = "tok") -> list[Message]:
    return [_subscribed(app, i, {"kind": "fcm", "endpoint": f"{prefix}-{i}"}) for i in range(count)]


def test_a_batch_has_as_many_requests_in_flight_as_the_window_allows(
    push_app: AppFactory, fcm_service: FcmService
) -> None:
    app = push_app(window=4)
    fcm_service.http.delay = 0.1
    messages = _fcm_batch(app, 10)
    results = _adapter(app).send_batch(messages)
    assert all(isinstance(r, SendResult) and r.outcome.value == "delivered" for r in results)
    assert [r.provider_ref for r in results if isinstance(r, SendResult)] != [None] * 10
    assert sorted(m["token"] for m in fcm_service.sent) == sorted(m.to for m in messages)
    assert fcm_service.http.max_in_flight == 4  # the window, never more
    assert _adapter(app).http.most_in_flight("fcm") == 4


def test_fcm_429_halves_the_window_and_the_message_is_sent_again(
    push_app: AppFactory, fcm_service: FcmService
) -> None:
    app = push_app(window=8)
    fcm_service.http.delay = 0.1
    quota = fcm_error(429, "RESOURCE_EXHAUSTED", "quota", "QUOTA_EXCEEDED", **{"Retry-After": "0"})
    fcm_service.script += [quota, quota]
    messages = _fcm_batch(app, 8)
    results = _adapter(app).send_batch(messages)
    assert all(isinstance(r, SendResult) for r in results)
    assert sorted(m["token"] for m in fcm_service.sent) == sorted(m.to for m in messages)
    assert fcm_service.http.requests == 10  # 8 + the two throttled ones again
    window = _adapter(app).http.windows()["fcm"]
    assert (window.halvings, window.smallest) == (1, 4)  # two 429s of one round trip: one halving


def test_mixed_outcomes_in_one_batch_each_get_their_own_result(
    push_app: AppFactory, fcm_service: FcmService, webpush_service: WebPushService
) -> None:
    app = push_app()
    fcm_service.unregistered.add("gone-token")
    fcm_service.by_token["flaky-token"] = [fcm_error(500, "INTERNAL", "internal error", "INTERNAL")]
    webpush_service.scripted["ua-gone"] = Reply(410)
    ok, gone, flaky, big = (
        _subscribed(app, i, {"kind": "fcm", "endpoint": f"{name}-token"})
        for i, name in enumerate(("ok", "gone", "flaky", "big"))
    )
    big = dataclasses.replace(big, text="y" * 4000)
    web_ok = _subscribed(app, 4, webpush_service.subscribe("ua-ok"))
    web_gone = _subscribed(app, 5, webpush_service.subscribe("ua-gone"))
    removed = Message(6, Channel.PUSH, Kind.SHIPPING, ok.customer_id, "never-stored", "en-US", "x")
    before = count(app, push_subscriptions)

    results = _adapter(app).send_batch([ok, gone, flaky, big, web_ok, web_gone, removed])

    assert isinstance(results[0], SendResult) and results[0].provider_ref
    assert isinstance(results[1], PermanentChannelError) and "UNREGISTERED" in str(results[1])
    assert isinstance(results[2], TransientChannelError) and "500 INTERNAL" in str(results[2])
    assert isinstance(results[3], PermanentChannelError) and "FCM payload" in str(results[3])
    assert isinstance(results[4], SendResult) and results[4].provider_ref
    assert isinstance(results[5], PermanentChannelError) and "410" in str(results[5])
    assert isinstance(results[6], PermanentChannelError) and "removed" in str(results[6])
    assert count(app, push_subscriptions) == before - 2  # the two the services called gone
    assert [m["token"] for m in fcm_service.sent] == ["ok-token"]
    (pushed,) = webpush_service.pushed
    assert json.loads(pushed.text)["body"] == "order 4"


@pytest.fixture
def latency_fcm() -> Iterator[LatencyFcm]:
    with LatencyFcm(delay_ms=100) as server:
        yield server


def _over_tls(server: LatencyFcm, **extra: Any) -> dict[str, Any]:
    return {
        "adapter": "real",
        "fcm_base_url": server.url,
        "fcm_project_id": server.project,
        "fcm_token_command": f"printf {server.token}",
        "ca_file": server.ca_file,  # its self-signed certificate, made at start
        "allow_loopback": True,  # the server is on 127.0.0.1
        **extra,
    }


def test_fcm_over_http2_sends_the_window_as_streams_of_one_connection_when_enabled(
    make_app: AppFactory, latency_fcm: LatencyFcm
) -> None:
    app = make_app(push=_over_tls(latency_fcm, http2=True))
    messages = _fcm_batch(app, 20)
    gone = _subscribed(app, 90, {"kind": "fcm", "endpoint": "unregistered-1"})
    results = _adapter(app).send_batch([*messages, gone])
    assert all(isinstance(r, SendResult) for r in results[:-1])
    assert isinstance(results[-1], PermanentChannelError) and "UNREGISTERED" in str(results[-1])
    stats = latency_fcm.stats()
    assert stats["connections"]["h2"] == 1  # (and the HTTP/1.1 one this look came by)
    assert stats["max_streams"] == 21  # the whole batch at once, as streams of that connection


def test_fcm_over_tls_by_default_keeps_the_window_on_http1_keep_alive_connections(
    make_app: AppFactory, latency_fcm: LatencyFcm
) -> None:
    app = make_app(push=_over_tls(latency_fcm, window=8))
    results = _adapter(app).send_batch(_fcm_batch(app, 20))
    assert all(isinstance(r, SendResult) for r in results)
    stats = latency_fcm.stats()
    assert stats["max_in_flight"] == 8 and "h2" not in stats["connections"]
    assert stats["connections"]["http/1.1"] == 8 + 1  # the window's connections, and this look
