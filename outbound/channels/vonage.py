"""SMS through Vonage's SMS API (``POST {api_base}/sms/json``): ``VonageSms``.

Why the SMS API and not the Messages API: the SMS API answers each part with its own
``message-id`` and sends one delivery receipt per part with the carrier's status and error code,
the same model as SMPP receipts (``record_receipt`` already settles multi-part messages part by
part); its webhooks (receipts and inbound) are signed with the account's signature secret
(``sig``, verified below), which needs no application key pair; and it takes a per-message
``callback`` URL. The Messages API is for WhatsApp/RCS/Viber too, needs a Vonage application
and a private key for JWTs, and gives one status per message, which we do not need for SMS.

Request: form fields ``api_key``, ``api_secret``, ``from``, ``to`` (digits, no +), ``text``,
``type=unicode`` when the text is not GSM-7, ``callback`` (``[api] public_url`` +
``/v1/providers/vonage/status``), ``client-ref`` (the delivery). Vonage answers HTTP 200 with
one entry per part, each with a ``status``: "0" accepted; "1" throttled (the window halves, as
SMPP's throttling answers; at a window of one a ``Refused``); "4" bad credentials, "14" bad
signature, "5" internal error: ``Refused`` (not taken); anything else (invalid number "3",
barred "7", …) permanent. No answer after the request went out: as Twilio (not sent again
unless ``[vonage] resend_unknown``).

Webhook signatures (Vonage "signing messages"): every parameter but ``sig``, sorted by name,
joined as ``&name=value`` with ``&`` and ``=`` in values replaced by ``_``; then ``md5hash``:
the MD5 of that string followed by the secret, or ``md5`` / ``sha1`` / ``sha256`` / ``sha512``:
the HMAC of that string keyed by the secret; hex.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from outbound.channels.base import Message, Refused
from outbound.channels.http_sms import Answer, HttpSms, Throttle
from outbound.channels.sms_text import plan
from outbound.domain.errors import ChannelError, PermanentChannelError
from outbound.domain.masking import mask_phone
from outbound.domain.values import Accepted

log = logging.getLogger("outbound.sms.vonage")

THROTTLED, INTERNAL, BAD_CREDENTIALS, BAD_SIGNATURE = "1", "5", "4", "14"
METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")

#: a delivery receipt's ``status`` -> the SMPP receipt state (None: not final)
STATUS_STATES: dict[str, str | None] = {
    "accepted": None,
    "buffered": None,
    "delivered": "DELIVRD",
    "expired": "EXPIRED",
    "failed": "UNDELIV",
    "rejected": "REJECTD",
    "unknown": "UNKNOWN",
}


def signature(secret: str, params: Mapping[str, str], method: str = "md5hash") -> str:
    """``sig`` of ``params`` (without ``sig``) as Vonage documents it; lower-case hex."""
    joined = "".join(
        f"&{key}={params[key].replace('&', '_').replace('=', '_')}"
        for key in sorted(params)
        if key != "sig"
    ).encode("utf-8")
    if method == "md5hash":
        return hashlib.md5(joined + secret.encode()).hexdigest()
    if method not in METHODS:
        raise ValueError(f"signature method {method!r}: use one of {', '.join(METHODS)}")
    return hmac.new(secret.encode(), joined, method).hexdigest()


def valid_signature(
    secret: str, params: Mapping[str, str], method: str = "md5hash", max_age: float = 300.0
) -> bool:
    """``sig`` matches and ``timestamp`` is within ``max_age`` seconds of now."""
    given = params.get("sig", "")
    try:
        stamp = float(params.get("timestamp", ""))
    except ValueError:
        return False
    if not secret or not given or abs(time.time() - stamp) > max_age:
        return False
    return hmac.compare_digest(signature(secret, params, method), given.lower())


@dataclass(frozen=True)
class VonageSettings:
    api_key: str
    api_secret: str
    sender: str = ""
    api_base: str = "https://rest.nexmo.com"
    status_callback: str = ""
    window: int = 10
    timeout_seconds: float = 10.0
    hold_seconds: float = 10.0
    resend_unknown: bool = False

    def __repr__(self) -> str:  # the secret never shows
        return f"VonageSettings(api_key={self.api_key!r}, api_base={self.api_base!r})"

    @property
    def sms_url(self) -> str:
        return f"{self.api_base.rstrip('/')}/sms/json"

    @property
    def balance_url(self) -> str:
        return f"{self.api_base.rstrip('/')}/account/get-balance"


class VonageSms(HttpSms[VonageSettings]):
    name = "vonage"

    def __init__(
        self,
        settings: VonageSettings,
        throttle: Throttle,
        senders: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(settings, throttle)
        self._senders = dict(senders or {})

    async def _check(self) -> str:
        """A GET of the account balance."""
        s = self.settings
        log.debug("vonage credentials check: GET %s", s.balance_url)
        params = {"api_key": s.api_key, "api_secret": s.api_secret}
        try:
            async with self._client().get(s.balance_url, params=params) as resp:
                await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"
        if resp.status == 200:
            return "accepted"
        if resp.status in (401, 403):
            return f"refused (HTTP {resp.status})"
        return f"unexpected answer (HTTP {resp.status})"

    def form(self, message: Message) -> dict[str, str]:
        s = self.settings
        fields = {
            "api_key": s.api_key,
            "api_secret": s.api_secret,
            "from": self._sender(message.to),
            "to": message.to.lstrip("+"),
            "text": message.text,
            "client-ref": message.idempotency_key,
        }
        try:
            gsm7 = plan(message.text).encoding == "gsm7"
        except ValueError:  # over 255 parts: Vonage refuses it with its own answer
            gsm7 = False
        if not gsm7:
            fields["type"] = "unicode"
        if s.status_callback:
            fields["callback"] = s.status_callback
        return fields

    def _sender(self, phone: str) -> str:
        digits = phone.lstrip("+")
        for length in (4, 3, 2, 1):
            if digits[:length] in self._senders:
                return self._senders[digits[:length]]
        return self.settings.sender

    def _prepare(self, message: Message) -> dict[str, str]:
        return self.form(message)

    def _throttled(self, answer: Answer) -> bool:
        status, parts = answer
        return status == 429 or THROTTLED in [str(p.get("status", "")) for p in parts]

    def _throttled_text(self, answer: Answer, message: Message) -> str:
        return f"vonage throttled the send to {mask_phone(message.to)}"

    async def _post(
        self, form: dict[str, str], message: Message
    ) -> ChannelError | Accepted | Answer:
        log.debug("vonage: POST %s (to %s)", self.settings.sms_url, mask_phone(message.to))
        try:
            async with self._client().post(self.settings.sms_url, data=form) as resp:
                raw = await resp.read()
        except aiohttp.ClientConnectorError as exc:
            return Refused(f"vonage unreachable ({type(exc).__name__})", 5.0)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._unknown(message, type(exc).__name__)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        parts = body.get("messages") if isinstance(body, dict) else None
        parts = [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
        if resp.status == 200 and parts and all(str(p.get("status")) == "0" for p in parts):
            ids = tuple(str(p.get("message-id", "")) for p in parts)
            return Accepted(ids, {"provider": "vonage", "parts": str(len(ids))})
        return resp.status, parts

    def _error(self, answer: Answer, message: Message) -> ChannelError:
        status, parts = answer
        failed: dict[str, Any] = next((p for p in parts if str(p.get("status")) != "0"), {})
        code = str(failed.get("status", ""))
        text = str(failed.get("error-text", ""))[:80]
        where = f"vonage refused the send to {mask_phone(message.to)}: HTTP {status}"
        where += f", status {code} ({text})" if code else ""
        if status >= 500 or code == INTERNAL:
            return Refused(f"{where} (not taken)", 5.0)
        if status in (401, 403) or code in (BAD_CREDENTIALS, BAD_SIGNATURE):
            return Refused(f"{where} (credentials refused)", 60.0)
        return PermanentChannelError(where)
