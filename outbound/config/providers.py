"""The SMS providers' sections of outbound.toml: ``[twilio]``, ``[vonage]``, ``[aliyun]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from outbound.config.sections import Section
from outbound.domain.errors import ConfigError


def twilio_from(data: Any) -> Any:
    """``from`` (env OUTBOUND_TWILIO_FROM, Twilio's own name) is ``from_number``."""
    if not (isinstance(data, Mapping) and "from" in data):
        return data
    rest = {key: value for key, value in data.items() if key != "from"}
    value = data["from"]
    if rest.get("from_number", value) != value:
        raise ConfigError(
            f"[twilio] from = {value!r} and from_number = {rest['from_number']!r} disagree; "
            "they are the same setting: keep one"
        )
    return {**rest, "from_number": value}


class TwilioSection(Section):
    """Twilio Messages API; the auth token by OUTBOUND_TWILIO_AUTH_TOKEN or ``auth_token_file``."""

    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    auth_token_file: str = ""
    from_number: str = ""  # a Twilio number (E.164) or alphanumeric sender id
    messaging_service_sid: str = ""  # MG…: sent instead of From when set
    api_base: str = "https://api.twilio.com"
    window: int = Field(default=10, ge=1)
    throughput_per_second: float = Field(default=10.0, gt=0)
    burst: float = 1.0
    timeout_seconds: float = Field(default=10.0, gt=0)
    resend_unknown: bool = False  # re-send a request whose answer never came (may send twice)

    @model_validator(mode="before")
    @classmethod
    def _from(cls, data: Any) -> Any:
        return twilio_from(data)

    def token(self) -> str:
        """The auth token: the setting, else the first line of ``auth_token_file``."""
        value = self.auth_token.get_secret_value()
        if value or not self.auth_token_file:
            return value
        try:
            with open(self.auth_token_file, encoding="utf-8") as handle:
                return handle.readline().strip()
        except OSError as exc:
            raise ValueError(
                f"[twilio] auth_token_file {self.auth_token_file!r} cannot be read "
                f"({exc.strerror}); fix the path or set OUTBOUND_TWILIO_AUTH_TOKEN"
            ) from None


class VonageSection(Section):
    """Vonage SMS API; secrets by OUTBOUND_VONAGE_API_SECRET / _SIGNATURE_SECRET."""

    api_key: str = ""
    api_secret: SecretStr = SecretStr("")
    signature_secret: SecretStr = SecretStr("")  # verifies the signed webhooks (sig)
    signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] = "md5hash"
    sender: str = ""  # a Vonage number or alphanumeric sender id
    api_base: str = "https://rest.nexmo.com"
    window: int = Field(default=10, ge=1)
    throughput_per_second: float = Field(default=30.0, gt=0)
    burst: float = 1.0
    timeout_seconds: float = Field(default=10.0, gt=0)
    resend_unknown: bool = False


class AliyunTemplate(Section):
    code: str  # SMS_123456789, approved in the Aliyun console
    params: list[str] = Field(default_factory=list)  # payload fields its ${…} variables take


class AliyunSection(Section):
    """Aliyun SMS (dysmsapi); secrets by OUTBOUND_ALIYUN_ACCESS_KEY_SECRET / _CALLBACK_TOKEN."""

    access_key_id: str = ""
    access_key_secret: SecretStr = SecretStr("")
    sign_name: str = ""  # the approved signature shown as 【…】
    #: "kind", "kind.language" or "kind.locale" -> the approved template and its parameters
    templates: dict[str, AliyunTemplate] = Field(default_factory=dict)
    #: the secret the SmsReport / SmsUp push URLs carry (?token=…): the pushes are not signed
    callback_token: SecretStr = SecretStr("")
    api_base: str = "https://dysmsapi.aliyuncs.com"
    region: str = "cn-hangzhou"
    window: int = Field(default=10, ge=1)
    throughput_per_second: float = Field(default=50.0, gt=0)
    burst: float = 1.0
    timeout_seconds: float = Field(default=10.0, gt=0)
    resend_unknown: bool = False
