"""SSRF through push endpoints (issue 21, item 9), checked at send: a subscription already on
file that points at a loopback address, or an allowed name that resolves to one as the client
connects (DNS rebinding), is never sent to; the delivery fails permanently and the ladder goes
on. Intake's refusals are in tests/api/test_same_rejections.py (API, CSV, JSONL alike)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.push_http import PushHttp, PushRequest, Refused
from outbound.domain.clock import system_clock
from outbound.domain.errors import ConfigError
from outbound.domain.push_targets import PushTargets
from outbound.domain.values import Kind
from outbound.store.tables import deliveries
from tests.integration.helpers import NY, add_customer, shipping, trigger
from tests.push.peers import Loopback, Reply, WebPushService

AppFactory = Callable[..., bootstrap.App]


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback(lambda _path, _headers, _body: Reply(201))
    yield server
    server.close()


@pytest.mark.parametrize("http2", [False, True], ids=["aiohttp", "httpx-h2"])
def test_an_allowed_name_that_resolves_to_loopback_is_refused_as_it_connects(
    loopback: Loopback, http2: bool
) -> None:
    # "localhost" passes the URL check (https, an allowed host, not an IP literal): only the
    # address the client connects to tells it is 127.0.0.1, as after a DNS rebinding
    port = loopback.url.rsplit(":", 1)[1]
    url = f"https://localhost:{port}/latest/meta-data/iam"
    targets = PushTargets(allowed_hosts=("localhost",))
    assert targets.url_problem(url) is None
    http = PushHttp(system_clock, timeout_seconds=5, http2=http2, targets=targets)
    try:
        (reply,) = http.post_all([PushRequest("localhost", url, {}, b"{}")])
    finally:
        http.close()
    assert isinstance(reply, Refused), reply
    assert "localhost resolves to a loopback address" in str(reply)
    assert "push services are public" in str(reply)
    assert loopback.requests == 0


def test_a_url_the_targets_refuse_is_not_sent_at_all(loopback: Loopback) -> None:
    http = PushHttp(system_clock, timeout_seconds=5, targets=PushTargets())
    try:
        replies = http.post_all(
            [
                PushRequest("a", f"{loopback.url}/latest/meta-data/", {}, b""),
                PushRequest("b", "https://169.254.169.254/latest/meta-data/", {}, b""),
            ]
        )
    finally:
        http.close()
    assert [str(r) for r in replies] == [
        "has scheme 'http'; push endpoints are https URLs of a push service",
        "is on a link-local address (169.254.169.254); push services are public",
    ]
    assert loopback.requests == 0


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def test_a_stored_loopback_subscription_is_not_posted_to_and_the_ladder_moves_on(
    push_app: AppFactory, webpush_service: WebPushService
) -> None:
    # the subscription reached the database before the rule (or around intake): the worker
    # still refuses it; FCM is left out so its loopback base URL needs no exception either
    app = push_app(allow_loopback=False, fcm_token_command="")
    sub = webpush_service.subscribe("metadata")
    cid = add_customer(app, "C1", NY, preference="push,sms", push_subscriptions=[sub])
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    dispatcher = app.dispatcher()
    dispatcher.run_once()
    dispatcher.run_once()
    rows = _rows(app)
    assert [(r.channel, r.outcome) for r in rows] == [("push", "rejected"), ("sms", "delivered")]
    error = rows[0].detail["error"]
    assert "not sent: the endpoint has scheme 'http'; push endpoints are https URLs" in error
    assert "/push/metadata" not in error  # the capability URL stays masked
    assert webpush_service.http.requests == 0 and webpush_service.pushed == []


def test_an_fcm_base_url_outside_the_allowed_hosts_is_a_config_error(
    push_app: AppFactory,
) -> None:
    app = push_app(allow_loopback=False)
    with pytest.raises(ConfigError, match=r"\[push\] fcm_base_url 'http://127\.0\.0\.1:\d+' has"):
        app.channels()
