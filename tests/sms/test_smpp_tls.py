"""SMPP over TLS against the loopback SMSC (the npm ``smpp`` server) wrapped in TLS, with
certificates made here (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from outbound import bootstrap
from outbound.bootstrap.sms import smpp_tls
from outbound.channels.base import Message
from outbound.config import load_settings
from outbound.domain.errors import ConfigError
from outbound.domain.values import Channel, Kind
from outbound.testing.tls import self_signed
from tests.conftest import CONFIG_DIR
from tests.integration.helpers import NY
from tests.logcheck import logs_at_debug
from tests.sms.conftest import Smsc, ensure_node_modules, eventually

AppFactory = Callable[..., bootstrap.App]


def _certs(tmp_path: Path, name: str) -> tuple[str, str]:
    directory = tmp_path / name
    directory.mkdir()
    cert, key = self_signed(directory, name)
    return str(cert), str(key)


@pytest.fixture
def server_cert(tmp_path: Path) -> tuple[str, str]:
    return _certs(tmp_path, "smsc.loopback")


@pytest.fixture
def client_cert(tmp_path: Path) -> tuple[str, str]:
    return _certs(tmp_path, "outbound-client")


@pytest.fixture
def tls_smsc(server_cert: tuple[str, str]) -> Iterator[Smsc]:
    server = Smsc(ensure_node_modules(), tls=server_cert)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def mutual_smsc(server_cert: tuple[str, str], client_cert: tuple[str, str]) -> Iterator[Smsc]:
    server = Smsc(ensure_node_modules(), tls=(*server_cert, client_cert[0]))
    try:
        yield server
    finally:
        server.close()


def _message(text: str = "Your order A1 shipped") -> Message:
    return Message(1, Channel.SMS, Kind.SHIPPING, 1, NY, "en-US", text)


def test_an_sms_goes_over_tls_to_an_smsc_whose_certificate_is_checked(
    make_app: AppFactory, tls_smsc: Smsc, server_cert: tuple[str, str]
) -> None:
    app = make_app(sms=tls_smsc.settings(tls=True, tls_ca_file=server_cert[0]))
    sms = app.channels()[Channel.SMS]
    assert sms.wait_bound(10)  # type: ignore[attr-defined]
    accepted = sms.send(_message())
    (message,) = eventually(lambda: tls_smsc.events("message"), what="the message")
    assert message["text"] == "Your order A1 shipped"
    assert message["ids"] == list(accepted.provider_refs)  # type: ignore[union-attr]
    (bind,) = tls_smsc.events("bind")
    assert (bind["ok"], bind["tls"], bind["client_cn"]) == (True, True, None)


def test_many_submits_and_receipts_over_one_tls_link_are_all_answered(
    make_app: AppFactory, tls_smsc: Smsc, server_cert: tuple[str, str]
) -> None:
    app = make_app(sms=tls_smsc.settings(tls=True, tls_ca_file=server_cert[0], window=10))
    sms = app.channels()[Channel.SMS]
    assert sms.wait_bound(10)  # type: ignore[attr-defined]
    messages = [
        Message(i, Channel.SMS, Kind.SHIPPING, 1, NY, "en-US", f"order A{i}") for i in range(1, 41)
    ]
    results = sms.send_batch(messages)  # type: ignore[attr-defined]
    assert all(not isinstance(r, Exception) for r in results)
    eventually(lambda: len(tls_smsc.events("message")) == 40, what="40 messages")
    assert sorted(m["text"] for m in tls_smsc.events("message")) == sorted(
        f"order A{i}" for i in range(1, 41)
    )


def test_an_smsc_asking_for_a_client_certificate_binds_with_the_configured_one(
    make_app: AppFactory,
    mutual_smsc: Smsc,
    server_cert: tuple[str, str],
    client_cert: tuple[str, str],
) -> None:
    settings = mutual_smsc.settings(
        tls=True,
        tls_ca_file=server_cert[0],
        tls_cert_file=client_cert[0],
        tls_key_file=client_cert[1],
    )
    app = make_app(sms=settings)
    sms = app.channels()[Channel.SMS]
    assert sms.wait_bound(10)  # type: ignore[attr-defined]
    sms.send(_message())
    eventually(lambda: mutual_smsc.events("message"), what="the message")
    (bind,) = mutual_smsc.events("bind")
    assert (bind["ok"], bind["client_cn"]) == (True, "outbound-client")


def test_without_the_client_certificate_the_smsc_refuses_the_handshake_and_nothing_binds(
    make_app: AppFactory, mutual_smsc: Smsc, server_cert: tuple[str, str]
) -> None:
    with logs_at_debug() as logs:
        app = make_app(sms=mutual_smsc.settings(tls=True, tls_ca_file=server_cert[0]))
        sms = app.channels()[Channel.SMS]
        sms.start()  # type: ignore[attr-defined]
        eventually(lambda: mutual_smsc.events("tls_error"), what="the SMSC to refuse TLS")
        eventually(lambda: "CERTIFICATE_REQUIRED" in logs.getvalue(), what="the warning")
    assert mutual_smsc.events("bind") == []
    assert "alert certificate required" in logs.getvalue()


def test_an_smsc_certificate_no_configured_ca_signed_is_refused_in_one_warning_line(
    make_app: AppFactory, tls_smsc: Smsc
) -> None:
    with logs_at_debug() as logs:
        app = make_app(sms=tls_smsc.settings(tls=True))  # the system's CAs only
        app.channels()[Channel.SMS].start()  # type: ignore[attr-defined]
        line = eventually(
            lambda: [x for x in logs.getvalue().splitlines() if "TLS handshake failed" in x],
            what="the handshake warning",
        )[0]
    assert "certificate" in line and f":{tls_smsc.port} failed" in line
    assert tls_smsc.events("bind") == []


def test_a_missing_ca_file_is_a_config_error_naming_the_setting(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    settings = load_settings(CONFIG_DIR, {"sms": {"tls": True, "tls_ca_file": missing}}, environ={})
    with pytest.raises(ConfigError, match=r"\[sms\] tls_ca_file '.*nope.pem' is not a readable"):
        smpp_tls(settings.sms)


def test_a_ca_file_without_tls_on_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    settings = load_settings(CONFIG_DIR, {"sms": {"tls_ca_file": "ca.pem"}}, environ={})
    with pytest.raises(ConfigError, match=r"\[sms\] tls_ca_file is set but tls = false"):
        smpp_tls(settings.sms)
