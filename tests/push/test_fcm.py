"""FCM HTTP v1 against a loopback server implementing messages:send (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.channels.push_auth import ServiceAccountTokens
from outbound.domain.errors import ConfigError, PermanentChannelError, TransientChannelError
from outbound.domain.values import Channel, Kind
from outbound.observability import metrics
from outbound.store.tables import deliveries, push_subscriptions
from outbound.testing.postgres import free_port
from tests.conftest import FrozenClock
from tests.integration.helpers import NY, add_customer, count, shipping, trigger
from tests.push.conftest import PROJECT
from tests.push.peers import FcmService, fcm_error

AppFactory = Callable[..., bootstrap.App]
TOKEN = "fcm-app-token-1"


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def _customer(app: bootstrap.App, token: str = TOKEN) -> int:
    sub = {"kind": "fcm", "endpoint": token}
    return add_customer(app, "C1", NY, preference="push,sms", push_subscriptions=[sub])


def test_fcm_success_records_delivered_with_the_message_name_as_provider_ref(
    push_app: AppFactory, fcm_service: FcmService
) -> None:
    app = push_app()
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    assert app.dispatcher().run_once() == 1
    (row,) = _rows(app)
    assert (row.channel, row.outcome) == ("push", "delivered")
    assert row.provider_ref == f"projects/{PROJECT}/messages/1"
    (sent,) = fcm_service.sent
    assert sent["token"] == TOKEN
    assert sent["notification"] == {
        "title": "Your order is on its way",
        "body": "Shop: order A1 is with DHL (tracking T-A1) and arrives November 28, 2026.",
    }
    assert sent["data"] == {"delivery_id": str(row.id), "kind": "shipping"}


def test_an_fcm_send_feeds_the_fcm_latency_histogram_and_window_gauges(
    push_app: AppFactory, fcm_service: FcmService
) -> None:
    def sample(name: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"provider": "fcm"}) or 0.0

    app = push_app(window=7)
    before = sample("outbound_provider_request_seconds_count")
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    assert app.dispatcher().run_once() == 1
    assert len(fcm_service.sent) == 1
    assert sample("outbound_provider_request_seconds_count") == before + 1
    assert sample("outbound_provider_window") == 7
    assert sample("outbound_provider_in_flight") == 0


def test_an_unregistered_fcm_token_is_removed_and_the_ladder_moves_to_sms(
    push_app: AppFactory, fcm_service: FcmService
) -> None:
    app = push_app()
    fcm_service.unregistered.add(TOKEN)
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    dispatcher = app.dispatcher()
    dispatcher.run_once()
    assert count(app, push_subscriptions) == 0
    dispatcher.run_once()
    assert [(r.channel, r.outcome) for r in _rows(app)] == [
        ("push", "rejected"),
        ("sms", "delivered"),
    ]
    assert "UNREGISTERED" in _rows(app)[0].detail["error"]


def test_fcm_429_puts_the_delivery_back_in_the_queue_until_retry_after(
    push_app: AppFactory, fcm_service: FcmService, clock: FrozenClock
) -> None:
    app = push_app()
    fcm_service.script.append(
        fcm_error(429, "RESOURCE_EXHAUSTED", "quota", "QUOTA_EXCEEDED", **{"Retry-After": "120"})
    )
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    start = clock()
    app.dispatcher().run_once()
    (row,) = _rows(app)
    assert (row.status, row.outcome) == ("queued", None)
    assert (row.due_at - start).total_seconds() >= 120
    clock.advance(seconds=119)
    assert app.dispatcher().run_once() == 0  # not before Retry-After
    clock.advance(seconds=1)
    assert app.dispatcher().run_once() == 1
    assert _rows(app)[0].outcome == "delivered" and len(fcm_service.sent) == 1


def test_fcm_500_is_transient_and_retried_with_backoff(
    push_app: AppFactory, fcm_service: FcmService, clock: FrozenClock
) -> None:
    app = push_app()
    fcm_service.script.append(fcm_error(500, "INTERNAL", "internal error", "INTERNAL"))
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    app.dispatcher().run_once()
    assert _rows(app)[0].status == "queued" and "500 INTERNAL" in _rows(app)[0].detail["last_error"]
    clock.advance(seconds=30)  # [worker] retry_base_seconds
    app.dispatcher().run_once()
    assert _rows(app)[0].outcome == "delivered"


def test_an_oversize_fcm_payload_is_refused_before_any_request(
    push_app: AppFactory, fcm_service: FcmService
) -> None:
    app = push_app()
    cid = _customer(app)
    message = Message(1, Channel.PUSH, Kind.SHIPPING, cid, TOKEN, "en-US", "y" * 4000)
    with pytest.raises(PermanentChannelError, match=r"FCM payload is 40\d\d bytes.*limit is 4000"):
        app.channels()[Channel.PUSH].send(message)
    assert fcm_service.http.requests == 0


def _service_account(tmp_path: Path, fcm: FcmService) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fcm.account_key = key.public_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "service-account.json"
    account = {
        "type": "service_account",
        "project_id": PROJECT,
        "client_email": "push@shop-test.iam.gserviceaccount.com",
        "private_key": pem,
        "token_uri": f"{fcm.http.url}/token",
    }
    path.write_text(json.dumps(account))
    return path


def test_a_service_account_token_is_granted_by_jwt_and_replaced_after_a_401(
    push_app: AppFactory, fcm_service: FcmService, tmp_path: Path, clock: FrozenClock
) -> None:
    path = _service_account(tmp_path, fcm_service)
    app = push_app(fcm_service_account_file=str(path), fcm_project_id="", fcm_token_command="")
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    app.dispatcher().run_once()
    assert fcm_service.grants == 1 and _rows(app)[0].outcome == "delivered"
    fcm_service.tokens = {"ya29.rotated"}  # the cached token was revoked
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A2"))
    app.dispatcher().run_once()
    assert _rows(app)[1].status == "queued"  # 401: transient, the token is dropped
    clock.advance(seconds=30)
    app.dispatcher().run_once()
    assert fcm_service.grants == 2 and _rows(app)[1].outcome == "delivered"


def test_a_refused_grant_is_transient_and_names_the_status_and_error_only(
    fcm_service: FcmService, tmp_path: Path
) -> None:
    path = _service_account(tmp_path, fcm_service)
    fcm_service.account_key = rsa.generate_private_key(65537, 2048).public_key()  # not its key
    with httpx.Client() as client:
        tokens = ServiceAccountTokens(path, client)
        with pytest.raises(TransientChannelError) as caught:
            tokens.token()
    assert str(caught.value) == "OAuth token endpoint answered 400 invalid_grant"
    assert fcm_service.grants == 0


def test_an_unreachable_token_endpoint_is_transient(
    fcm_service: FcmService, tmp_path: Path
) -> None:
    path = _service_account(tmp_path, fcm_service)
    with httpx.Client() as client:
        tokens = ServiceAccountTokens(path, client, token_uri=f"http://127.0.0.1:{free_port()}/t")
        with pytest.raises(TransientChannelError, match="OAuth token request failed: ConnectError"):
            tokens.token()


def test_the_token_uri_setting_overrides_the_file_and_the_token_is_cached(
    fcm_service: FcmService, tmp_path: Path
) -> None:
    path = _service_account(tmp_path, fcm_service)
    account = json.loads(path.read_text())
    path.write_text(json.dumps({**account, "token_uri": "http://127.0.0.1:9/nowhere"}))
    with httpx.Client() as client:
        tokens = ServiceAccountTokens(path, client, token_uri=f"{fcm_service.http.url}/token")
        assert tokens.token() == tokens.token() == "ya29.granted-1"
    assert fcm_service.grants == 1 and tokens.project_id == PROJECT


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", r"is not a service-account key \(JSONDecodeError\)"),
        ('{"client_email": "a@b.c"}', r"is not a service-account key \(KeyError\)"),
        ("EC", "not an RSA key"),
    ],
    ids=["not-json", "no-private-key", "ec-key"],
)
def test_a_bad_service_account_file_is_a_config_error_naming_the_file(
    tmp_path: Path, content: str, reason: str
) -> None:
    if content == "EC":
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        content = json.dumps({"client_email": "a@b.c", "private_key": pem.decode()})
    path = tmp_path / "sa.json"
    path.write_text(content)
    with httpx.Client() as client, pytest.raises(ConfigError, match=reason) as caught:
        ServiceAccountTokens(path, client)
    assert "sa.json" in str(caught.value)
