"""SMS through Aliyun (Alibaba Cloud) SMS, ``dysmsapi`` ``SendSms``: ``AliyunSms``.

China requires pre-approved templates: a message is not its text but a ``TemplateCode`` and the
``TemplateParam`` values it takes, chosen per kind × locale (``[aliyun] templates``; see
``template_for``; ``outbound providers lint`` refuses a kind without one). The request is an RPC
call (``POST {api_base}/`` form: ``Action=SendSms``, ``Version=2017-05-25``, ``PhoneNumbers``,
``SignName``, ``TemplateCode``, ``TemplateParam`` (JSON), ``OutId`` (the delivery), the common
parameters) signed with signature v1 as Aliyun documents it: the parameters sorted by name,
each name and value percent-encoded (RFC 3986; space as ``%20``, ``*`` as ``%2A``, ``~``
kept), joined ``name=value`` with ``&``; ``StringToSign`` = ``POST&%2F&`` + that string
percent-encoded; ``Signature`` = base64 HMAC-SHA1 keyed by the AccessKey secret + ``&``.

Answers: ``Code = "OK"`` with a ``BizId`` (the ref status reports name); ``isv.BUSINESS_LIMIT_CONTROL``
throttled (the window halves; at a window of one a ``Refused``); credentials refused
(``InvalidAccessKeyId.*``, ``SignatureDoesNotMatch``), ``isp.*`` system errors, HTTP 5xx,
connection refused and ``isv.AMOUNT_NOT_ENOUGH``: ``Refused``; anything else (an illegal number,
template or signature) permanent. Status reports and replies (``SmsReport``, ``SmsUp`` HTTP
pushes) are not signed: the API takes them only on a URL holding ``[aliyun] callback_token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from outbound.channels.base import Message, Refused
from outbound.channels.http_sms import Answer, HttpSms
from outbound.domain.errors import ChannelError, PermanentChannelError
from outbound.domain.masking import mask_phone
from outbound.domain.values import Accepted

log = logging.getLogger("outbound.sms.aliyun")

THROTTLED = "isv.BUSINESS_LIMIT_CONTROL"
NOT_TAKEN = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "isp.", "isv.AMOUNT_NOT_ENOUGH")


def percent(value: str) -> str:
    """Aliyun's percent-encoding (RFC 3986 unreserved characters kept)."""
    return quote(value, safe="~")


def sign(secret: str, params: Mapping[str, str], method: str = "POST") -> str:
    """``Signature`` (RPC signature v1, HMAC-SHA1) of ``params`` without ``Signature``."""
    canonical = "&".join(
        f"{percent(k)}={percent(params[k])}" for k in sorted(params) if k != "Signature"
    )
    to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Template:
    code: str  # SMS_123456789, approved in the Aliyun console
    params: tuple[str, ...] = ()  # payload fields the template's ${…} variables take


def template_for(templates: Mapping[str, Template], kind: str, locale: str) -> Template | None:
    """``kind.locale`` (``shipping.zh-CN``), else ``kind.language`` (``shipping.zh``), else
    ``kind``."""
    language = locale.split("-")[0]
    for key in (f"{kind}.{locale}", f"{kind}.{language}", kind):
        if key in templates:
            return templates[key]
    return None


@dataclass(frozen=True)
class AliyunSettings:
    access_key_id: str
    access_key_secret: str
    sign_name: str
    templates: Mapping[str, Template] = field(default_factory=dict)
    api_base: str = "https://dysmsapi.aliyuncs.com"
    region: str = "cn-hangzhou"
    window: int = 10
    timeout_seconds: float = 10.0
    hold_seconds: float = 10.0
    resend_unknown: bool = False

    def __repr__(self) -> str:  # the secret never shows
        return f"AliyunSettings(access_key_id={self.access_key_id!r}, api_base={self.api_base!r})"


def phone_numbers(phone: str) -> str:
    """Mainland numbers without +86; others with their country code, without the +."""
    digits = phone.lstrip("+")
    return digits[2:] if digits.startswith("86") else digits


class AliyunSms(HttpSms[AliyunSettings]):
    name = "aliyun"

    def signed(self, action: dict[str, str]) -> dict[str, str]:
        s = self.settings
        params = {
            "AccessKeyId": s.access_key_id,
            "Format": "JSON",
            "RegionId": s.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            **action,
        }
        params["Signature"] = sign(s.access_key_secret, params)
        return params

    def form(self, message: Message) -> dict[str, str] | PermanentChannelError:
        template = template_for(self.settings.templates, message.kind.value, message.locale)
        if template is None:
            return PermanentChannelError(
                f"delivery {message.delivery_id}: no [aliyun] templates entry for "
                f"{message.kind.value}.{message.locale} (China sends approved templates only)"
            )
        missing = [p for p in template.params if p not in message.payload]
        if missing:
            return PermanentChannelError(
                f"delivery {message.delivery_id}: template {template.code} needs {missing}"
            )
        values = {p: str(message.payload[p]) for p in template.params}
        return {
            "Action": "SendSms",
            "PhoneNumbers": phone_numbers(message.to),
            "SignName": self.settings.sign_name,
            "TemplateCode": template.code,
            "TemplateParam": json.dumps(values, ensure_ascii=False, separators=(",", ":")),
            "OutId": message.idempotency_key,
        }

    async def _check(self) -> str:
        """A signed ``QuerySendStatistics`` call."""
        today = datetime.now(UTC).strftime("%Y%m%d")
        action = {"Action": "QuerySendStatistics", "IsGlobe": "1", "StartDate": today}
        action |= {"EndDate": today, "PageIndex": "1", "PageSize": "1"}
        try:
            async with self._client().post(self._url, data=self.signed(action)) as resp:
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"
        code = _code(body)
        if resp.status == 200 and code == "OK":
            return "accepted"
        return f"refused (HTTP {resp.status}, {code or 'no code'})"

    @property
    def _url(self) -> str:
        return self.settings.api_base.rstrip("/") + "/"

    def _prepare(self, message: Message) -> dict[str, str] | PermanentChannelError:
        return self.form(message)

    def _signed(self, prepared: Any) -> dict[str, str]:
        return self.signed(prepared)  # a fresh nonce and timestamp each try

    def _throttled(self, answer: Answer) -> bool:
        status, code = answer
        return bool(code == THROTTLED or status == 429)

    def _throttled_text(self, answer: Answer, message: Message) -> str:
        return f"aliyun throttled the send to {mask_phone(message.to)} ({answer[1]})"

    async def _post(
        self, form: dict[str, str], message: Message
    ) -> ChannelError | Accepted | Answer:
        log.debug("aliyun: SendSms to %s", mask_phone(message.to))
        try:
            async with self._client().post(self._url, data=form) as resp:
                raw = await resp.read()
        except aiohttp.ClientConnectorError as exc:
            return Refused(f"aliyun unreachable ({type(exc).__name__})", 5.0)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._unknown(message, type(exc).__name__)
        body = _json(raw)
        code = _code(raw)
        if resp.status == 200 and code == "OK" and body.get("BizId"):
            return Accepted((str(body["BizId"]),), {"provider": "aliyun"})
        return resp.status, code

    def _error(self, answer: Answer, message: Message) -> ChannelError:
        status, code = answer
        where = f"aliyun refused the send to {mask_phone(message.to)}: HTTP {status}, {code}"
        if status >= 500 or any(code.startswith(p) for p in NOT_TAKEN):
            return Refused(f"{where} (not taken)", 5.0)
        return PermanentChannelError(where)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code(raw: bytes) -> str:
    return str(_json(raw).get("Code", ""))


#: a status report's ``err_code`` when ``success`` is false -> the SMPP receipt state
def report_state(report: Mapping[str, Any]) -> str:
    if report.get("success") in (True, "true", "True"):
        return "DELIVRD"
    return "UNDELIV"
