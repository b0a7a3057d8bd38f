"""Fixtures: the loopback Web Push and FCM services, a VAPID key, an app wired to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

from outbound import bootstrap
from tests.logcheck import leaks, logs_at_debug
from tests.push.peers import FcmService, WebPushService

PROJECT = "shop-test"
ACCESS_TOKEN = "ya29.test-token"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "leaks_logs: the test makes a log leak on purpose (its own assertions check it)"
    )


@pytest.fixture(autouse=True)
def no_secret_in_debug_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test here runs with logs as at ``-vv``; none may show an endpoint, a token, a JWT or a number."""
    with logs_at_debug() as buffer:
        yield
    if request.node.get_closest_marker("leaks_logs") is None:
        assert leaks(buffer.getvalue(), [ACCESS_TOKEN]) == []


@pytest.fixture
def vapid_key(tmp_path: Path) -> tuple[Path, bytes]:
    """A VAPID key file (PEM) and its public point, as `vapid --gen` would make them."""
    vapid = Vapid()
    vapid.generate_keys()
    path = tmp_path / "vapid_private.pem"
    vapid.save_key(str(path))
    public = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return path, public


@pytest.fixture
def webpush_service(vapid_key: tuple[Path, bytes]) -> Iterator[WebPushService]:
    service = WebPushService(vapid_key[1])
    yield service
    service.close()


@pytest.fixture
def fcm_service() -> Iterator[FcmService]:
    service = FcmService(PROJECT, ACCESS_TOKEN)
    yield service
    service.close()


def push_settings(vapid_file: Path, fcm: FcmService, **extra: Any) -> dict[str, Any]:
    return {
        "adapter": "real",
        "vapid_private_key_file": str(vapid_file),
        "vapid_subject": "mailto:ops@shop.example",
        "fcm_base_url": fcm.http.url,
        "fcm_project_id": PROJECT,
        "fcm_token_command": f"printf {ACCESS_TOKEN}",
        "timeout_seconds": 5.0,
        "allow_loopback": True,  # the loopback peers: http:// on 127.0.0.1
        **extra,
    }


@pytest.fixture
def push_app(
    make_app: Callable[..., bootstrap.App],
    vapid_key: tuple[Path, bytes],
    webpush_service: WebPushService,
    fcm_service: FcmService,
) -> Callable[..., bootstrap.App]:
    def build(**extra: Any) -> bootstrap.App:
        return make_app(push=push_settings(vapid_key[0], fcm_service, **extra))

    return build
