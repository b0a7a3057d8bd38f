"""Provider settings: the Twilio auth token from a secret file, clear errors without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbound.bootstrap.sms import twilio_settings
from outbound.config import Settings, load_settings
from outbound.domain.errors import ConfigError


def _settings(**twilio: str) -> Settings:
    return load_settings(None, {"twilio": twilio}, environ={})


def test_the_auth_token_is_read_from_its_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "twilio.token"
    secret.write_text("token-from-the-file-123\n")
    settings = _settings(account_sid="AC1", auth_token_file=str(secret), from_number="+15005550006")
    link = twilio_settings(settings)
    assert link.auth_token == "token-from-the-file-123"
    assert "token-from-the-file" not in repr(link)


def test_an_unreadable_token_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.token"
    settings = _settings(account_sid="AC1", auth_token_file=str(missing), from_number="+1500")
    with pytest.raises(
        ConfigError, match=r"\[twilio\] auth_token_file '.*nope.token' cannot be read"
    ):
        twilio_settings(settings)


def test_missing_credentials_name_the_environment_variables() -> None:
    with pytest.raises(
        ConfigError, match="OUTBOUND_TWILIO_ACCOUNT_SID and OUTBOUND_TWILIO_AUTH_TOKEN"
    ):
        twilio_settings(_settings())


def test_an_alphanumeric_sender_id_where_the_country_forbids_it_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\+1 does not allow an alphanumeric sender id"):
        load_settings(None, {"sms": {"sender_ids": {"1": "Shop", "44": "Shop"}}}, environ={})
    ok = load_settings(None, {"sms": {"sender_ids": {"1": "+15005550006", "44": "Shop"}}})
    assert ok.sms.sender_ids == {"1": "+15005550006", "44": "Shop"}


def test_twilio_from_and_its_environment_variable_name_the_sender(tmp_path: Path) -> None:
    (tmp_path / "outbound.toml").write_text('[twilio]\nfrom = "+15005550006"\n')
    assert load_settings(tmp_path, environ={}).twilio.from_number == "+15005550006"
    by_env = load_settings(None, environ={"OUTBOUND_TWILIO_FROM": "+15005550007"})
    assert by_env.twilio.from_number == "+15005550007"
    old_name = load_settings(None, environ={"OUTBOUND_TWILIO_FROM_NUMBER": "+15005550008"})
    assert old_name.twilio.from_number == "+15005550008"


def test_twilio_from_and_from_number_that_disagree_are_refused(tmp_path: Path) -> None:
    (tmp_path / "outbound.toml").write_text(
        '[twilio]\nfrom = "+15005550006"\nfrom_number = "+15005550009"\n'
    )
    with pytest.raises(ConfigError, match=r"\[twilio\] from = '\+15005550006' and from_number"):
        load_settings(tmp_path, environ={})
