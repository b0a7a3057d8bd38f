"""SMPP 3.4 bind fields have fixed sizes: a longer value is a config error, never cut off."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbound.config import load_settings
from outbound.domain.errors import ConfigError

POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.toml"


def _dir(tmp_path: Path, toml: str = "") -> Path:
    (tmp_path / "outbound.toml").write_text(toml)
    (tmp_path / "policies.toml").write_text(POLICIES.read_text())
    return tmp_path


def test_a_nine_character_smpp_password_is_a_config_error_that_does_not_show_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_dir(tmp_path), environ={"OUTBOUND_SMS_PASSWORD": "hunter2xy"})
    message = str(caught.value)
    assert message.startswith("environment [sms] password (OUTBOUND_SMS_PASSWORD) is 9 bytes")
    assert "at most 8" in message and "hunter2xy" not in message


def test_an_eight_character_smpp_password_is_kept_whole(tmp_path: Path) -> None:
    settings = load_settings(_dir(tmp_path), environ={"OUTBOUND_SMS_PASSWORD": "hunter2x"})
    assert settings.sms.password.get_secret_value() == "hunter2x"


@pytest.mark.parametrize(
    ("key", "value", "limit"), [("system_id", "s" * 16, 15), ("system_type", "t" * 13, 12)]
)
def test_overlong_system_id_and_system_type_in_the_file_name_the_file_and_the_limit(
    tmp_path: Path, key: str, value: str, limit: int
) -> None:
    directory = _dir(tmp_path, f'[sms]\n{key} = "{value}"\n')
    with pytest.raises(ConfigError, match=rf"outbound.toml \[sms\] {key} is {len(value)} bytes"):
        load_settings(directory, environ={})
    with pytest.raises(ConfigError, match=f"at most {limit}"):
        load_settings(directory, environ={})
