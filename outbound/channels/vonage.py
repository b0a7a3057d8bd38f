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

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from outbound.channels.base import Message, Refused, Result
from outbound.channels.push_http import _LoopThread
from outbound.channels.sms_text import plan
from outbound.channels.twilio import Throttle
from outbound.channels.window import Aimd, AsyncWindow
from outbound.domain.errors import ChannelError, PermanentChannelError, TransientChannelError
from outbound.domain.masking import mask_phone
from outbound.domain.values import Accepted, Channel

log = logging.getLogger("outbound.sms.vonage")

THROTTLED, INTERNAL, BAD_CREDENTIALS, BAD_SIGNATURE = "1", "5", "4", "14"
_FIRST_BACKOFF, _MAX_BACKOFF = 0.05, 1.0
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


class VonageSms:
    channel = Channel.SMS
    name = "vonage"

    def __init__(
        self,
        settings: VonageSettings,
        throttle: Throttle,
        senders: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._throttle = throttle
        self._senders = dict(senders or {})
        self.window = AsyncWindow(Aimd(settings.window))
        self._session: aiohttp.ClientSession | None = None
        self._loop = _LoopThread("vonage-sms")

    def send(self, message: Message) -> Accepted:
        (result,) = self.send_batch([message])
        if isinstance(result, ChannelError):
            raise result
        assert isinstance(result, Accepted)
        return result

    def send_batch(self, messages: Sequence[Message]) -> list[Result]:
        if not messages:
            return []
        s = self.settings
        limit = (len(messages) / s.window + 1) * (s.timeout_seconds + s.hold_seconds)
        try:
            return self._loop.run(self._send_all(messages), limit + s.hold_seconds)
        except TimeoutError:
            return [TransientChannelError(f"no answer within {limit:.0f}s")] * len(messages)

    def close(self) -> None:
        if self._loop.started:
            self._loop.run(self._aclose())
        self._loop.stop()

    def check(self) -> str:
        """Whether the credentials are accepted: a GET of the account balance."""
        return self._loop.run(self._check(), self.settings.timeout_seconds + 1)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            )
        return self._session

    async def _aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _check(self) -> str:
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

    async def _send_all(self, messages: Sequence[Message]) -> list[Result]:
        results = await asyncio.gather(*(self._send(m) for m in messages), return_exceptions=True)
        out: list[Result] = []
        for result in results:
            if not isinstance(result, BaseException) or isinstance(result, ChannelError):
                out.append(result)
            else:
                log.error("vonage send failed unexpectedly", exc_info=result)
                out.append(TransientChannelError(f"vonage send crashed: {type(result).__name__}"))
        return out

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

    async def _send(self, message: Message) -> Result:
        if not message.to:
            return PermanentChannelError(f"delivery {message.delivery_id}: customer has no phone")
        loop = asyncio.get_running_loop()
        give_up = time.monotonic() + self.settings.hold_seconds
        form, tries = self.form(message), 0
        while True:
            epoch = await self.window.acquire()
            try:
                await loop.run_in_executor(None, self._throttle.acquire)
            except ChannelError as exc:
                self.window.release(epoch, answered=False)
                return exc
            at_one = self.window.aimd.size == 1
            answer = await self._post(form, message)
            if isinstance(answer, ChannelError | Accepted):
                self.window.release(epoch, answered=isinstance(answer, Accepted))
                return answer
            status, parts = answer
            codes = [str(p.get("status", "")) for p in parts]
            throttled = status == 429 or THROTTLED in codes
            self.window.release(epoch, answered=True, throttled=throttled)
            if not throttled:
                return self._error(status, parts, message)
            where = f"vonage throttled the send to {mask_phone(message.to)}"
            if at_one:
                return Refused(f"{where} at a window of 1", 1.0)
            wait = min(_FIRST_BACKOFF * 2**tries, _MAX_BACKOFF)
            if time.monotonic() + wait > give_up:
                return TransientChannelError(where, 1.0)
            tries += 1
            await asyncio.sleep(wait)

    async def _post(
        self, form: dict[str, str], message: Message
    ) -> ChannelError | Accepted | tuple[int, list[dict[str, Any]]]:
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

    def _unknown(self, message: Message, why: str) -> ChannelError | Accepted:
        where = f"vonage gave no answer for delivery {message.delivery_id} ({why})"
        if self.settings.resend_unknown:
            return TransientChannelError(f"{where}; sending again")
        log.warning("%s: counted as sent, not sent again", where)
        return Accepted(
            (f"unknown-{message.idempotency_key}",), {"provider": "vonage", "unknown": "1"}
        )

    def _error(self, status: int, parts: list[dict[str, Any]], message: Message) -> ChannelError:
        failed = next((p for p in parts if str(p.get("status")) != "0"), {})
        code = str(failed.get("status", ""))
        text = str(failed.get("error-text", ""))[:80]
        where = f"vonage refused the send to {mask_phone(message.to)}: HTTP {status}"
        where += f", status {code} ({text})" if code else ""
        if status >= 500 or code == INTERNAL:
            return Refused(f"{where} (not taken)", 5.0)
        if status in (401, 403) or code in (BAD_CREDENTIALS, BAD_SIGNATURE):
            return Refused(f"{where} (credentials refused)", 60.0)
        return PermanentChannelError(where)
