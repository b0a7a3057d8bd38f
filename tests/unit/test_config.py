"""Settings precedence: defaults < outbound.toml < OUTBOUND_* env < CLI flags; errors say where."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from outbound.config import Section, Settings, SmsSection, WorkerSection, load_settings
from outbound.domain.errors import ConfigError

CONFIG = Path(__file__).resolve().parents[2] / "config"
POLICIES = CONFIG / "policies.toml"


def _dir(tmp_path: Path, toml: str | None) -> Path:
    if toml is not None:
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
    assert settings.worker.lease_seconds == 90  # file over default
    assert settings.worker.batch_size == 20  # env over file (flag not given)
    assert settings.worker.threads == 7  # flag over env
    assert settings.worker.poll_seconds == WorkerSection().poll_seconds  # default
    assert settings.config_dir == directory
    assert settings.policies_file == directory / "policies.toml"


def test_without_outbound_toml_the_documented_defaults_apply(tmp_path: Path) -> None:
    settings = load_settings(_dir(tmp_path, None), environ={})
    assert settings.database_url == "sqlite:///outbound.db"
    assert settings.sms.adapter == "log" and settings.sms.port == 2775
    assert settings.brand.name == "Shop"
    assert settings.operator_caps == ()


def test_shipped_outbound_toml_repeats_every_default_and_nothing_else() -> None:
    shipped = tomllib.loads((CONFIG / "outbound.toml").read_text())
    defaults = Settings.model_construct()
    for name, field in Settings.model_fields.items():
        if name == "caps":
            continue
        section = getattr(defaults, name)
        expected = {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in section}
        assert shipped[name] == expected, f"config/outbound.toml [{name}] differs from {field}"
    assert set(shipped) == set(Settings.model_fields)


def test_values_are_typed_after_loading(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[sms]\nsource_addr = 12345\nport = 2776\n")
    settings = load_settings(directory, environ={"OUTBOUND_WORKER_POLL_SECONDS": "2"})
    assert settings.sms.source_addr == "12345"  # a numeric sender id is text
    assert settings.sms.port == 2776
    assert settings.worker.poll_seconds == 2.0 and isinstance(settings.worker.poll_seconds, float)


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("OUTBOUND_SMS_SYSTEM_ID", "shop1", lambda s: s.sms.system_id),
        ("OUTBOUND_SMS_PASSWORD", "s3cret", lambda s: s.sms.password.get_secret_value()),
        ("OUTBOUND_DATABASE_URL", "sqlite:///x.db", lambda s: s.database_url),
        ("OUTBOUND_VOICE_ASR_MODEL_KO_KR", "/models/ko", lambda s: s.voice.asr_models()["ko-KR"]),
        ("OUTBOUND_VOICE_SIP_USER", "robot", lambda s: s.voice.sip_user),
        ("OUTBOUND_PUSH_FCM_PROJECT_ID", "shop-prod", lambda s: s.push.fcm_project_id),
        ("OUTBOUND_BRAND_NAME", "Acme", lambda s: s.brand.name),
    ],
)
def test_environment_variable_names_are_outbound_section_key(
    tmp_path: Path, variable: str, value: str, read: object
) -> None:
    settings = load_settings(_dir(tmp_path, ""), environ={variable: value})
    assert read(settings) == value  # type: ignore[operator]


def test_secrets_are_not_shown_in_the_settings_repr(tmp_path: Path) -> None:
    settings = load_settings(_dir(tmp_path, ""), environ={"OUTBOUND_SMS_PASSWORD": "s3cret"})
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.sms)


@pytest.mark.parametrize(
    ("toml", "environ", "flags", "message"),
    [
        (
            "[worker]\nthreads = 'many'\n",
            {},
            None,
            r"outbound.toml \[worker\] threads = 'many' is not an int; expected like 2$",
        ),
        (
            "",
            {"OUTBOUND_WORKER_THREADS": "many"},
            None,
            r"^environment \[worker\] threads = 'many' is not an int; expected like 2$",
        ),
        (
            "",
            {},
            {"api": {"port": "eighty"}},
            r"^command line \[api\] port = 'eighty' is not an int; expected like 8080$",
        ),
        (
            "",
            {"OUTBOUND_SMS_ADAPTER": "smtp"},
            None,
            r"^environment \[sms\] adapter = 'smtp' is not one of 'twilio', 'vonage', "
            r"'aliyun', 'smpp', 'log'; expected like 'log'$",
        ),
        (
            "[worker]\npoll_seconds = 'soon'\n",
            {},
            None,
            r"\[worker\] poll_seconds = 'soon' is not a float; expected like 0.5$",
        ),
    ],
)
def test_bad_value_names_its_origin_section_key_value_and_an_example(
    tmp_path: Path,
    toml: str,
    environ: dict[str, str],
    flags: dict[str, dict[str, object]] | None,
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_dir(tmp_path, toml), flags, environ=environ)


def test_a_bad_file_value_names_the_file(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[expiry]\nshipping_hours = 2.5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(directory, environ={})
    assert str(err.value).startswith(f"{directory / 'outbound.toml'} [expiry] shipping_hours")


def test_a_bad_secret_is_reported_without_its_value(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[voice]\nsip_password = ['hunter2']\n")
    with pytest.raises(ConfigError, match=r"\[voice\] sip_password = '\*\*\*' is not a str") as err:
        load_settings(directory, environ={})
    assert "hunter2" not in str(err.value)


def test_unknown_key_names_the_file_section_and_known_keys(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[worker]\nbatchsize = 10\n")
    with pytest.raises(ConfigError, match=r"unknown key \[worker\] batchsize; known: batch_size"):
        load_settings(directory, environ={})


def test_unknown_environment_key_of_a_section_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"^environment: unknown key \[sms\] systemid \(OUTBOUND_SMS_SYSTEMID\); known",
    ):
        load_settings(_dir(tmp_path, ""), environ={"OUTBOUND_SMS_SYSTEMID": "shop"})


def test_unknown_section_lists_the_known_sections(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown section \[mail\]; known: aliyun, api, apns, audit, brand, caps"
    ):
        load_settings(_dir(tmp_path, "[mail]\nhost = 'x'\n"), environ={})


def test_a_section_written_as_a_value_asks_for_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[brand\] must be a table of keys, not 'Acme'"):
        load_settings(_dir(tmp_path, "brand = 'Acme'\n"), environ={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[worker\nthreads = 2\n")
    with pytest.raises(ConfigError, match=r"outbound.toml: not valid TOML \(.*line 1"):
        load_settings(directory, environ={})


def test_caps_must_be_an_array_of_tables(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[caps]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"caps must be an array of tables \(\[\[caps\]\]\)"):
        load_settings(directory, environ={})


def test_operator_caps_are_read_from_the_settings_file(tmp_path: Path) -> None:
    directory = _dir(
        tmp_path, '[[caps]]\nname = "sms_day"\nlimit = 1\nwindow = "day"\nchannel = "sms"\n'
    )
    settings = load_settings(directory, environ={})
    assert [c["name"] for c in settings.operator_caps] == ["sms_day"]


def test_missing_config_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; pass --config-dir"):
        load_settings(tmp_path / "nope", environ={})


def test_brand_section_is_the_one_brand(tmp_path: Path) -> None:
    settings = load_settings(_dir(tmp_path, "[brand]\nname = 'Acme'\n"), environ={})
    assert settings.brand.name == "Acme"
    assert not hasattr(settings.voice, "brand")


def test_deprecated_voice_brand_still_sets_the_brand_per_layer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = _dir(tmp_path, "[voice]\nbrand = 'Acme'\n")
    with caplog.at_level(logging.WARNING, logger="outbound.config"):
        from_file = load_settings(directory, environ={})
    assert from_file.brand.name == "Acme"
    assert "[voice] brand is deprecated; write [brand] name = 'Acme'" in caplog.text
    from_env = load_settings(directory, environ={"OUTBOUND_VOICE_BRAND": "Beta"})
    assert from_env.brand.name == "Beta"  # environment over file, through the alias too
    newer = load_settings(directory, environ={"OUTBOUND_BRAND_NAME": "Gamma"})
    assert newer.brand.name == "Gamma"


def test_voice_brand_and_brand_name_disagreeing_in_one_layer_is_an_error(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[brand]\nname = 'Acme'\n\n[voice]\nbrand = 'Beta'\n")
    with pytest.raises(ConfigError, match=r"\[voice\] brand = 'Beta' and \[brand\] name = 'Acme'"):
        load_settings(directory, environ={})


def test_override_returns_a_checked_copy_in_the_same_config_dir(tmp_path: Path) -> None:
    base = load_settings(_dir(tmp_path, ""), environ={})
    copy = base.override({"sms": {"adapter": "smpp", "port": "2800"}})
    assert (copy.sms.adapter, copy.sms.port, copy.sms.host) == ("smpp", 2800, "127.0.0.1")
    assert copy.config_dir == base.config_dir and base.sms.adapter == "log"
    with pytest.raises(ConfigError, match=r"^demo \[sms\] adapter = 'fax' is not one of"):
        base.override({"sms": {"adapter": "fax"}}, origin="demo")


class FlagSection(Section):
    enabled: bool = False


class FlaggedSettings(Settings):
    """Today's sections have no bool key; this one proves how a bool would be read."""

    flags: FlagSection = FlagSection()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("yes", True), ("1", True), ("On", True), ("false", False), ("off", False)],
)
def test_bool_keys_accept_the_usual_words_from_the_environment(
    tmp_path: Path, raw: str, expected: bool
) -> None:
    settings = FlaggedSettings.load(_dir(tmp_path, ""), environ={"OUTBOUND_FLAGS_ENABLED": raw})
    assert settings.flags.enabled is expected


def test_bool_key_from_the_file_and_a_bad_bool(tmp_path: Path) -> None:
    directory = _dir(tmp_path, "[flags]\nenabled = true\n")
    assert FlaggedSettings.load(directory, environ={}).flags.enabled is True
    with pytest.raises(
        ConfigError, match=r"^environment \[flags\] enabled = 'maybe' is not a bool; expected like"
    ):
        FlaggedSettings.load(directory, environ={"OUTBOUND_FLAGS_ENABLED": "maybe"})


def test_sms_section_defaults_match_the_adapter_defaults() -> None:
    from outbound.bootstrap.sms import smpp_settings
    from outbound.channels.sms import SmppSettings

    built = smpp_settings(SmsSection())
    assert built == SmppSettings(host="127.0.0.1", port=2775, system_id="", password="")


# --- the quick reader of the read-only commands (outbound.config.quick) ------------------------


@pytest.mark.parametrize(
    ("toml", "environ", "flag", "url", "log_format"),
    [
        (None, {}, None, "sqlite:///outbound.db", "human"),
        (
            '[database]\nurl = "sqlite:///f.db"\n[log]\nformat = "json"\n',
            {},
            None,
            "sqlite:///f.db",
            "json",
        ),
        (
            '[database]\nurl = "sqlite:///f.db"\n',
            {"OUTBOUND_DATABASE_URL": "sqlite:///e.db"},
            None,
            "sqlite:///e.db",
            "human",
        ),
        (
            '[database]\nurl = "sqlite:///f.db"\n',
            {"outbound_log_format": "json"},
            "sqlite:///c.db",
            "sqlite:///c.db",
            "json",
        ),
        (
            '[worker]\nthreads = 3\n[database]\nurl = "sqlite:///f.db"\n',
            {},
            None,
            "sqlite:///f.db",
            "human",
        ),
    ],
)
def test_the_quick_reader_gives_the_url_and_log_format_the_full_loader_gives(
    tmp_path: Path,
    toml: str | None,
    environ: dict[str, str],
    flag: str | None,
    url: str,
    log_format: str,
) -> None:
    from outbound.config.quick import database_settings

    directory = _dir(tmp_path, toml)
    quick = database_settings(directory, flag, environ)
    full = load_settings(directory, {"database": {"url": flag}}, environ)
    assert (quick.database_url, quick.log_format) == (url, log_format)
    assert (full.database_url, full.log.format) == (url, log_format)
    assert quick.config_dir == full.config_dir == directory


@pytest.mark.parametrize(
    ("toml", "environ"),
    [
        ('[log]\nformat = "xml"\n', {}),
        ("[database]\nurl = [1]\n", {}),
        ('[database]\nurl = "x"\nbogus = 1\n', {}),
        ('database = "x"\n', {}),
        ("[database\n", {}),
        (None, {"OUTBOUND_LOG_FORMAT": "yaml"}),
        (None, {"OUTBOUND_DATABASE": "not json"}),
        (None, {"OUTBOUND_LOG_LEVEL": "debug"}),
    ],
)
def test_the_quick_reader_words_a_bad_value_as_the_full_loader_does(
    tmp_path: Path, toml: str | None, environ: dict[str, str]
) -> None:
    from outbound.config.quick import database_settings

    directory = _dir(tmp_path, toml)
    with pytest.raises(ConfigError) as full:
        load_settings(directory, environ=environ)
    with pytest.raises(ConfigError) as quick:
        database_settings(directory, None, environ)
    assert str(quick.value) == str(full.value)
    assert "outbound.toml" in str(quick.value) or "environment" in str(quick.value)
