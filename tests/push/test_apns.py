"""APNs direct against a loopback HTTP/2 server shaped like APNs, which verifies the ES256
provider token with the team's public key (SQLite, PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from outbound import bootstrap
from outbound.bootstrap.push import build_apns
from outbound.channels.apns import ApnsPush, ApnsSettings, ProviderTokens
from outbound.channels.base import Message
from outbound.channels.push import PushChannel, PushContent
from outbound.channels.push_http import PushHttp
from outbound.config import load_settings
from outbound.domain.errors import ConfigError, PermanentChannelError, TransientChannelError
from outbound.domain.push_targets import PushTargets
from outbound.domain.values import Channel, Kind, Subscription
from outbound.services.templates.render import render_message
from outbound.store.tables import deliveries, push_subscriptions
from outbound.testing.apns import ApnsServer, ApnsService, reason
from tests.conftest import CONFIG_DIR, FrozenClock
from tests.integration.helpers import NY, add_customer, count, shipping, trigger
from tests.logcheck import leaks, logs_at_debug

AppFactory = Callable[..., bootstrap.App]
TEAM, KEY_ID, TOPIC = "TEAM123456", "KEY1234567", "com.shop.app"
DEVICE = "0a1b2c3d4e5f" + "0" * 51 + "1"  # 64 hex digits, as an iPhone reports it


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def key_file(tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey) -> Path:
    path = tmp_path / f"AuthKey_{KEY_ID}.p8"
    path.write_text(_pem(signing_key))
    return path


@pytest.fixture
def apns(tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey) -> Iterator[ApnsServer]:
    service = ApnsService(
        project="",
        token="",
        delay=0.0,
        team_id=TEAM,
        key_id=KEY_ID,
        topic=TOPIC,
        public_key=signing_key.public_key(),
    )
    (tmp_path / "apns-tls").mkdir()
    server = ApnsServer(service, tmp_path / "apns-tls")
    yield server
    server.close()


@pytest.fixture
def apns_app(make_app: AppFactory, apns: ApnsServer, key_file: Path) -> AppFactory:
    def build(**extra: Any) -> bootstrap.App:
        section = {
            "api_base": apns.url,
            "team_id": TEAM,
            "key_id": KEY_ID,
            "key_file": str(key_file),
            "topic": TOPIC,
            **extra,
        }
        push = {
            "adapter": "real",
            "ca_file": apns.ca_file,
            "timeout_seconds": 5.0,
            "allow_loopback": True,
        }
        return make_app(push=push, apns=section)

    return build


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def _customer(app: bootstrap.App, device: str = DEVICE) -> int:
    sub = {"kind": "apns", "endpoint": device}
    return add_customer(app, "C1", NY, preference="push,sms", push_subscriptions=[sub])


def test_an_apns_alert_is_delivered_over_http2_with_apples_headers_and_a_verified_token(
    apns_app: AppFactory, apns: ApnsServer, clock: FrozenClock
) -> None:
    app = apns_app()
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    assert app.dispatcher().run_once() == 1
    (row,) = _rows(app)
    assert (row.channel, row.outcome) == ("push", "delivered")
    (sent,) = apns.service.sent
    assert sent["device"] == DEVICE
    headers = sent["headers"]
    assert row.provider_ref == headers["apns-id"]
    assert headers["apns-topic"] == "com.shop.app"
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert headers["apns-collapse-id"] == f"delivery-{row.id}"
    assert int(headers["apns-expiration"]) == int(clock().timestamp()) + 86400
    body = render_message(Kind.SHIPPING, Channel.PUSH, "en-US", shipping("A1"), footer=False)
    assert sent["payload"] == {
        "aps": {"alert": {"title": "Your order is on its way", "body": body}},
        "delivery_id": str(row.id),
        "kind": "shipping",
    }
    assert dict(apns.service.protocols) == {"h2": 1}  # HTTP/2 although [push] http2 = false
    assert len(apns.service.tokens) == 1


def test_an_unregistered_device_token_is_removed_and_the_ladder_moves_to_sms(
    apns_app: AppFactory, apns: ApnsServer
) -> None:
    app = apns_app()
    apns.service.unregistered.add(DEVICE)
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    dispatcher = app.dispatcher()
    dispatcher.run_once()
    assert count(app, push_subscriptions) == 0
    dispatcher.run_once()
    assert [(r.channel, r.outcome) for r in _rows(app)] == [
        ("push", "rejected"),
        ("sms", "delivered"),
    ]
    assert "410 Unregistered" in _rows(app)[0].detail["error"]


def test_a_bad_device_token_is_removed(apns_app: AppFactory, apns: ApnsServer) -> None:
    app = apns_app()
    apns.service.bad.add(DEVICE)
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    app.dispatcher().run_once()
    assert count(app, push_subscriptions) == 0
    assert "400 BadDeviceToken" in _rows(app)[0].detail["error"]


def test_too_many_requests_halves_the_apns_window_and_the_push_is_sent_again(
    apns_app: AppFactory, apns: ApnsServer
) -> None:
    app = apns_app()
    apns.service.script.append(reason(429, "TooManyRequests", **{"retry-after": "0"}))
    trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
    app.dispatcher().run_once()
    assert _rows(app)[0].outcome == "delivered" and len(apns.service.sent) == 1
    channel = app.channels()[Channel.PUSH]
    assert isinstance(channel, PushChannel)
    window = channel.http.windows()["apns"]
    assert (window.halvings, window.smallest) == (1, 32)
    assert apns.service.refused == ["TooManyRequests"]


def test_a_wrong_signing_key_is_refused_by_apns_and_the_push_waits_without_the_key_in_logs(
    apns_app: AppFactory, apns: ApnsServer, tmp_path: Path
) -> None:
    other = tmp_path / "other.p8"
    other_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    other.write_text(other_pem)
    with logs_at_debug() as logs:
        app = apns_app(key_file=str(other))
        trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
        app.dispatcher().run_once()
    (row,) = _rows(app)
    assert (row.status, row.outcome) == ("queued", None)
    assert "403 InvalidProviderToken" in row.detail["last_error"]
    assert apns.service.refused == ["InvalidProviderToken"]
    text = logs.getvalue()
    assert "check [apns] team_id, key_id and the .p8 key" in text
    secret_line = other_pem.splitlines()[1]
    assert leaks(text, [secret_line, DEVICE]) == []


def test_debug_logs_of_a_delivered_push_show_neither_key_nor_provider_token_nor_device(
    apns_app: AppFactory, apns: ApnsServer, key_file: Path
) -> None:
    with logs_at_debug() as logs:
        app = apns_app()
        trigger(app, Kind.SHIPPING, _customer(app), shipping("A1"))
        app.dispatcher().run_once()
        app.close()
    assert _rows(app)[0].outcome == "delivered"
    key_lines = key_file.read_text().splitlines()[1:-1]
    assert leaks(logs.getvalue(), [*key_lines, *apns.service.tokens, DEVICE]) == []


def test_an_oversize_payload_is_refused_before_any_request(
    apns_app: AppFactory, apns: ApnsServer
) -> None:
    app = apns_app()
    cid = _customer(app)
    message = Message(1, Channel.PUSH, Kind.SHIPPING, cid, DEVICE, "en-US", "y" * 4050)
    with pytest.raises(PermanentChannelError, match=r"APNs payload is 41\d\d bytes.*limit is 4096"):
        app.channels()[Channel.PUSH].send(message)
    assert apns.service.requests == 0


class _Wall:
    """Wall time ``offset`` seconds off the real one (this host's clock, wrong or right)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


def test_the_provider_token_is_reused_for_50_minutes_and_then_signed_again(
    signing_key: ec.EllipticCurvePrivateKey,
) -> None:
    wall = _Wall(0.0)
    tokens = ProviderTokens(TEAM, KEY_ID, signing_key, 3000.0, now=wall)
    first = tokens.token()
    wall.offset = 2999.0
    assert tokens.token() == first
    wall.offset = 3000.0
    assert tokens.token() != first and tokens.signed == 2


def test_expired_provider_token_is_replaced_but_never_twice_within_20_minutes(
    apns: ApnsServer, signing_key: ec.EllipticCurvePrivateKey, clock: FrozenClock
) -> None:
    wall = _Wall(-4000.0)  # this host's clock is 66 minutes behind Apple's
    tokens = ProviderTokens(TEAM, KEY_ID, signing_key, 3000.0, now=wall)
    sender = ApnsPush(ApnsSettings(TOPIC, apns.url), tokens, clock)
    http = PushHttp(
        clock,
        window=4,
        timeout_seconds=5.0,
        verify=_trust(apns),
        targets=PushTargets(allow_loopback=True),
    )
    sub = Subscription(1, 1, "apns", DEVICE, {})
    content = PushContent("Shop", "Your order shipped", {"delivery_id": "7"})

    def send() -> None:
        request = sender.request(sub, content, 7)
        (answer,) = http.post_all([request])
        sender.outcome(sub, request, answer)

    try:
        with pytest.raises(TransientChannelError, match="403 ExpiredProviderToken"):
            send()
        assert tokens.signed == 1  # just signed: a new one now would be refused as too frequent
        wall.offset += 1200.0  # 20 minutes later, still 46 minutes behind
        with pytest.raises(TransientChannelError, match="403 ExpiredProviderToken"):
            send()
        assert tokens.signed == 2
        send()  # the token signed after the second refusal is within Apple's hour
        assert len(apns.service.sent) == 1
        assert apns.service.refused == ["ExpiredProviderToken", "ExpiredProviderToken"]
    finally:
        http.close()


def _trust(apns: ApnsServer) -> Any:
    import ssl

    return ssl.create_default_context(cafile=apns.ca_file)


def test_an_apple_team_id_of_the_wrong_shape_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"team_id.*'team-1'.*10-character Apple team_id"):
        load_settings(CONFIG_DIR, {"apns": {"team_id": "team-1"}}, environ={})


def test_a_missing_key_file_is_a_config_error_naming_the_setting(tmp_path: Path) -> None:
    settings = load_settings(
        CONFIG_DIR,
        {"apns": {"team_id": TEAM, "key_id": KEY_ID, "key_file": str(tmp_path / "nope.p8")}},
        environ={},
    )
    with pytest.raises(ConfigError, match=r"\[apns\] key_file '.*nope.p8' cannot be read"):
        build_apns(settings.apns, FrozenClock(settings_clock()))


def test_the_key_may_come_from_the_environment_instead_of_a_file(
    signing_key: ec.EllipticCurvePrivateKey,
) -> None:
    environ = {
        "OUTBOUND_APNS_TEAM_ID": TEAM,
        "OUTBOUND_APNS_KEY_ID": KEY_ID,
        "OUTBOUND_APNS_KEY": _pem(signing_key),
        "OUTBOUND_APNS_TOPIC": TOPIC,
    }
    settings = load_settings(CONFIG_DIR, environ=environ)
    sender = build_apns(settings.apns, FrozenClock(settings_clock()))
    assert sender is not None and sender.settings.topic == "com.shop.app"
    assert _pem(signing_key) not in repr(settings)


def settings_clock() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
