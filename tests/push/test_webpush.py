"""Web Push against a loopback push service that decrypts and checks VAPID (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.domain.errors import PermanentChannelError
from outbound.domain.values import Channel, Kind
from outbound.observability import metrics
from outbound.store.tables import audit_events, deliveries, push_subscriptions
from tests.conftest import FrozenClock
from tests.integration.helpers import NY, add_customer, count, shipping, trigger
from tests.push.peers import Reply, WebPushService

AppFactory = Callable[..., bootstrap.App]


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def _subscribed(app: bootstrap.App, service: WebPushService, name: str = "ua1") -> int:
    sub = service.subscribe(name)
    return add_customer(app, "C1", NY, preference="push,sms", push_subscriptions=[sub])


def test_web_push_payload_decrypts_to_the_rendered_text_under_a_valid_vapid_signature(
    push_app: AppFactory, webpush_service: WebPushService
) -> None:
    app = push_app()
    cid = _subscribed(app, webpush_service)
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    assert app.dispatcher().run_once() == 1
    (pushed,) = webpush_service.pushed
    payload = json.loads(pushed.text)
    assert payload["body"] == (
        "Shop: order A1 is with DHL (tracking T-A1) and arrives November 28, 2026."
    )
    assert payload["title"] == "Your order is on its way" and payload["kind"] == "shipping"
    (row,) = _rows(app)
    assert (row.channel, row.outcome) == ("push", "delivered")
    assert payload["delivery_id"] == str(row.id)
    assert row.provider_ref == f"{webpush_service.http.url}/m/1"
    assert pushed.headers["topic"] == f"delivery-{row.id}" and pushed.headers["ttl"] == "86400"
    assert pushed.claims["sub"] == "mailto:ops@shop.example"
    assert webpush_service.refused == []


def test_a_web_push_send_is_counted_under_webpush_not_under_the_services_origin(
    push_app: AppFactory, webpush_service: WebPushService
) -> None:
    def sample(name: str, provider: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"provider": provider}) or 0.0

    origin = webpush_service.http.url
    app = push_app()
    before = sample("outbound_provider_request_seconds_count", "webpush")
    trigger(app, Kind.SHIPPING, _subscribed(app, webpush_service), shipping("A1"))
    assert app.dispatcher().run_once() == 1
    assert len(webpush_service.pushed) == 1
    assert sample("outbound_provider_request_seconds_count", "webpush") == before + 1
    assert sample("outbound_provider_in_flight", "webpush") == 0
    assert origin.split("//")[1] not in metrics.render().decode()  # no series per origin


def test_an_expired_web_push_subscription_is_removed_and_the_ladder_moves_to_sms(
    push_app: AppFactory, webpush_service: WebPushService
) -> None:
    app = push_app()
    cid = _subscribed(app, webpush_service, "gone")
    webpush_service.scripted["gone"] = Reply(410, b"push subscription has unsubscribed or expired")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    dispatcher = app.dispatcher()
    dispatcher.run_once()
    assert count(app, push_subscriptions) == 0
    dispatcher.run_once()
    assert [(r.channel, r.outcome) for r in _rows(app)] == [
        ("push", "rejected"),
        ("sms", "delivered"),
    ]
    assert "410" in _rows(app)[0].detail["error"]
    assert count(app, audit_events, audit_events.c.action == "push.subscription_removed") == 1


def test_web_push_503_with_an_http_date_retry_after_requeues_no_earlier_than_that_date(
    push_app: AppFactory, webpush_service: WebPushService, clock: FrozenClock
) -> None:
    app = push_app()
    cid = _subscribed(app, webpush_service, "busy")
    later = clock() + timedelta(minutes=10)
    webpush_service.scripted["busy"] = Reply(
        503, headers={"Retry-After": format_datetime(later, True)}
    )
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    app.dispatcher().run_once()
    (row,) = _rows(app)
    assert row.status == "queued" and row.outcome is None
    assert row.due_at >= later
    del webpush_service.scripted["busy"]
    clock.advance(minutes=10)
    app.dispatcher().run_once()
    assert _rows(app)[0].outcome == "delivered" and len(webpush_service.pushed) == 1


def test_an_oversize_web_push_payload_is_refused_before_any_request(
    push_app: AppFactory, webpush_service: WebPushService
) -> None:
    app = push_app()
    cid = _subscribed(app, webpush_service)
    endpoint = f"{webpush_service.http.url}/push/ua1"
    message = Message(1, Channel.PUSH, Kind.SHIPPING, cid, endpoint, "en-US", "x" * 4000)
    with pytest.raises(
        PermanentChannelError, match=r"payload is \d+ bytes encrypted.*limit is 4096"
    ):
        app.channels()[Channel.PUSH].send(message)
    assert webpush_service.http.requests == 0
    short = Message(2, Channel.PUSH, Kind.SHIPPING, cid, endpoint, "en-US", "x" * 3900)
    app.channels()[Channel.PUSH].send(short)  # just under the limit still goes
    assert webpush_service.http.requests == 1


def test_a_web_push_subscription_without_keys_fails_permanently_without_a_request(
    push_app: AppFactory, webpush_service: WebPushService
) -> None:
    app = push_app()
    endpoint = f"{webpush_service.http.url}/push/nokeys"
    sub = {"kind": "webpush", "endpoint": endpoint}
    cid = add_customer(app, "C1", NY, preference="push,sms", push_subscriptions=[sub])
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    app.dispatcher().run_once()
    assert "no usable keys" in _rows(app)[0].detail["error"]
    assert webpush_service.http.requests == 0
