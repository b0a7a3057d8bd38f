"""Settings precedence: defaults < outbound.toml < OUTBOUND_* env < CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbound.config import DEFAULTS, load_settings
from outbound.domain.errors import ConfigError

POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.toml"


def _dir(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "outbound.toml").write_text(toml)
    (tmp_path / "policies.toml").write_text(POLICIES.read_text())
    return tmp_path


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[worker]\nbatch_size = 10\nthreads = 3\nlease_seconds = 90\n")
    settings = load_settings(
        directory,
        overrides={"worker": {"threads": 7, "batch_size": None}},
        environ={"OUTBOUND_WORKER_BATCH_SIZE": "20", "OUTBOUND_WORKER_THREADS": "5"},
    )
    assert settings.get("worker", "lease_seconds") == 90  # file over default
    assert settings.get("worker", "batch_size") == 20  # env over file (flag not given)
    assert settings.get("worker", "threads") == 7  # flag over env
    assert settings.get("worker", "poll_seconds") == DEFAULTS["worker"]["poll_seconds"]


def test_unknown_key_names_the_file_section_and_known_keys(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[worker]\nbatchsize = 10\n")
    with pytest.raises(ConfigError, match=r"unknown key \[worker\] batchsize; known: batch_size"):
        load_settings(directory, environ={})


def test_badly_typed_env_value_names_the_variable_value_and_example(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "")
    with pytest.raises(
        ConfigError, match=r"environment \[worker\] threads = 'many' is not a int; expected like 2"
    ):
        load_settings(directory, environ={"OUTBOUND_WORKER_THREADS": "many"})


def test_operator_caps_are_read_from_the_settings_file(tmp_path: Path) -> None:
    directory = _dir(
        tmp_path, '[[caps]]\nname = "sms_day"\nlimit = 1\nwindow = "day"\nchannel = "sms"\n'
    )
    settings = load_settings(directory, environ={})
    assert [c["name"] for c in settings.operator_caps] == ["sms_day"]


def test_missing_config_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; pass --config-dir"):
        load_settings(tmp_path / "nope", environ={})
