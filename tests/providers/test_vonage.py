"""Vonage's SMS API, signed delivery receipts and inbound messages, against a Vonage-shaped
loopback server and the real API on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.channels.vonage import signature
from outbound.domain.values import Channel, Kind
from outbound.store.tables import audit_events, consents, deliveries
from outbound.testing.vonage import VonageService, receipt, signed_webhook
from tests.integration.helpers import NY, SHANGHAI, add_customer, count, shipping, trigger
from tests.providers.conftest import Running

KEY, SECRET, SIG_SECRET = "abcd1234", "vonage-api-secret-55aa", "vonage-signature-secret-77bb"


@pytest.fixture(autouse=True)
def no_vonage_secret_in_debug_logs() -> Iterator[None]:
    from tests.logcheck import leaks, logs_at_debug

    with logs_at_debug() as buffer:
        yield
    assert leaks(buffer.getvalue(), [SECRET, SIG_SECRET]) == []


@pytest.fixture
def vonage() -> Iterator[VonageService]:
    service = VonageService(KEY, SECRET)
    yield service
    service.close()


def _start(launch: Callable[..., Running], service: VonageService, **extra: Any) -> Running:
    return launch(
        sms={"adapter": "vonage"},
        vonage={
            "api_key": KEY,
            "api_secret": SECRET,
            "signature_secret": SIG_SECRET,
            "sender": "Shop",
            "api_base": service.url,
            "throughput_per_second": 500.0,
            **extra,
        },
    )


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def _send_one(running: Running) -> None:
    cid = add_customer(running.app, "C1", NY, preference="sms")
    trigger(running.app, Kind.SHIPPING, cid, shipping("A1"))
    assert running.app.dispatcher().run_once() == 1


def test_signature_matches_vonage_published_example() -> None:
    # the example of Vonage's client libraries: params a=1, b=2, timestamp, secret "secret"
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert signature("secret", params) == "6af838ef94998832dbfc29020b564830"


def test_a_send_posts_the_documented_form_and_a_signed_receipt_settles_it(
    launch: Callable[..., Running], vonage: VonageService
) -> None:
    running = _start(launch, vonage)
    _send_one(running)
    (sent,) = vonage.sent
    assert sent["to"] == NY.lstrip("+") and sent["from"] == "Shop" and "type" not in sent
    assert sent["callback"] == running.url + "/v1/providers/vonage/status"
    assert _rows(running.app)[0].provider_ref == sent["message-id"]
    status_url = running.url + "/v1/providers/vonage/status"
    assert receipt(status_url, SIG_SECRET, sent, "delivered") == 204
    (row,) = _rows(running.app)
    assert (row.status, row.outcome) == ("done", "delivered")


def test_chinese_text_goes_as_unicode(
    launch: Callable[..., Running], vonage: VonageService
) -> None:
    running = _start(launch, vonage)
    sms = running.app.channels()[Channel.SMS]
    sms.send(Message(1, Channel.SMS, Kind.SHIPPING, 1, SHANGHAI, "zh-CN", "您的订单已发货"))
    assert vonage.sent[0]["type"] == "unicode" and vonage.sent[0]["text"] == "您的订单已发货"


def test_a_bad_sig_is_403_and_changes_nothing(
    launch: Callable[..., Running], vonage: VonageService
) -> None:
    running = _start(launch, vonage)
    _send_one(running)
    before = count(running.app, audit_events)
    params = {"messageId": vonage.sent[0]["message-id"], "status": "delivered", "msisdn": "1"}
    assert (
        signed_webhook(running.url + "/v1/providers/vonage/status", SIG_SECRET, params, bad=True)
        == 403
    )
    inbound = {"msisdn": NY.lstrip("+"), "to": "Shop", "text": "STOP", "messageId": "X1"}
    assert (
        signed_webhook(running.url + "/v1/providers/vonage/inbound", SIG_SECRET, inbound, bad=True)
        == 403
    )
    assert _rows(running.app)[0].status == "sent"
    assert count(running.app, audit_events) == before


def test_an_inbound_stop_revokes_consent(
    launch: Callable[..., Running], vonage: VonageService
) -> None:
    running = _start(launch, vonage)
    add_customer(running.app, "C1", NY, preference="sms")
    inbound = {"msisdn": NY.lstrip("+"), "to": "Shop", "text": "STOP", "messageId": "X1"}
    assert signed_webhook(running.url + "/v1/providers/vonage/inbound", SIG_SECRET, inbound) == 204
    with running.app.engine.begin() as conn:
        ledger = conn.execute(select(consents.c.channel, consents.c.purpose, consents.c.action))
        rows = sorted((tuple(r) for r in ledger), key=str)
    assert rows == sorted([("sms", None, "revoke"), (None, "marketing", "revoke")], key=str)


def test_throttled_status_halves_the_window_and_the_message_still_goes_once(
    launch: Callable[..., Running], vonage: VonageService
) -> None:
    running = _start(launch, vonage, window=4)
    vonage.script("1", "1")
    sms = running.app.channels()[Channel.SMS]
    accepted = sms.send(Message(1, Channel.SMS, Kind.SHIPPING, 1, NY, "en-US", "hello"))
    assert accepted.provider_refs == (vonage.sent[0]["message-id"],) and vonage.refused == 2
    assert sms.window.aimd.halvings >= 1  # type: ignore[attr-defined]


def test_an_invalid_number_is_permanent(
    launch: Callable[..., Running], vonage: VonageService
) -> None:
    running = _start(launch, vonage)
    vonage.script("3")
    _send_one(running)
    assert _rows(running.app)[0].outcome == "rejected" and vonage.sent == []


def test_routes_fail_over_from_a_refusing_vonage_to_the_log_sink(
    launch: Callable[..., Running], vonage: VonageService
) -> None:
    running = launch(
        sms={"adapter": "vonage", "routes": {"default": ["vonage", "log"]}},
        vonage={"api_key": KEY, "api_secret": SECRET, "api_base": vonage.url},
    )
    vonage.script(503)
    _send_one(running)
    (row,) = _rows(running.app)
    assert (row.status, row.outcome) == ("done", "delivered") and vonage.sent == []
