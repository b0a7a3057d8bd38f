"""SMS through Twilio's Messages API: ``TwilioSms``.

``POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with the form fields ``To``,
``From`` (or ``MessagingServiceSid``), ``Body`` and ``StatusCallback``, HTTP Basic with the
account SID and auth token. Twilio answers 201 with the message resource (its ``sid`` is the
provider ref that status callbacks name) or an error ``{"code", "message", "status"}``:

* 21610 (the recipient replied STOP to this sender): an opt-out, written to the consent ledger
  through ``SmsEvents.opted_out``; permanent.
* 21211 (invalid ``To``) and every other 4xx: permanent.
* 429 / 20429 (too many requests): the window halves (AIMD, as SMPP's throttling answers) and
  the message goes again after a backoff while ``hold`` allows; once the window is down to one
  it is a ``Refused``, so a route may fail over.
* 401 / 20003 (credentials refused), 5xx, connection refused: ``Refused`` (not taken).
* no answer after the request went out: the message may have been taken. By default it is
  *not* sent again: it is recorded as accepted under ``unknown-delivery-<id>`` and settles by
  ``[sms] receipt_timeout_hours``; ``[twilio] resend_unknown = true`` makes it transient.

Requests go many at a time through the provider's window (``channels.http_sms.HttpSms``, shared
with Vonage and Aliyun), each after a token of the account's shared throughput limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from outbound.channels.base import Message, Refused
from outbound.channels.http_sms import Answer, HttpSms, Throttle
from outbound.domain.errors import ChannelError, PermanentChannelError
from outbound.domain.masking import mask_phone
from outbound.domain.values import Accepted

log = logging.getLogger("outbound.sms.twilio")

OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
INVALID_TO = 21211
TOO_MANY = 20429
AUTH_FAILED = 20003

#: MessageStatus of a status callback -> the SMPP receipt state it amounts to (None: not final)
STATUS_STATES: dict[str, str | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": None,
    "delivered": "DELIVRD",
    "undelivered": "UNDELIV",
    "failed": "UNDELIV",
    "canceled": "DELETED",
    "read": "DELIVRD",
}


def signature(auth_token: str, url: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """``X-Twilio-Signature`` as Twilio documents it: HMAC-SHA1 (key: the auth token) of the
    full URL followed by every POST parameter, sorted by name, as name + value; base64."""
    data = url
    for key in sorted(params):
        value = params[key]
        for item in sorted([value] if isinstance(value, str) else value):
            data += key + item
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid_signature(
    auth_token: str, url: str, params: Mapping[str, str | Sequence[str]], given: str
) -> bool:
    return bool(auth_token) and hmac.compare_digest(signature(auth_token, url, params), given)


class SmsEvents(Protocol):
    """What a provider's answers tell the rest of the system."""

    def opted_out(self, phone: str, provider: str, evidence: str) -> None: ...


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base: str = "https://api.twilio.com"
    status_callback: str = ""  # "" = no StatusCallback parameter
    window: int = 10
    timeout_seconds: float = 10.0
    hold_seconds: float = 10.0  # how long throttled messages are tried again
    resend_unknown: bool = False

    def __repr__(self) -> str:  # the token never shows
        return f"TwilioSettings(account_sid={self.account_sid!r}, api_base={self.api_base!r})"

    @property
    def messages_url(self) -> str:
        return f"{self.api_base.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    @property
    def account_url(self) -> str:
        return f"{self.api_base.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}.json"


class TwilioSms(HttpSms[TwilioSettings]):
    name = "twilio"

    def __init__(
        self,
        settings: TwilioSettings,
        throttle: Throttle,
        events: SmsEvents | None = None,
        senders: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(settings, throttle)
        self._events = events
        self._senders = dict(senders or {})  # calling code -> From
        self.requests = 0  # message requests sent (tests and reports)

    def _headers(self) -> Mapping[str, str]:
        return {"Authorization": _basic(self.settings.account_sid, self.settings.auth_token)}

    async def _check(self) -> str:
        """A GET of the Account resource."""
        log.debug("twilio credentials check: GET %s", self.settings.account_url)
        try:
            async with self._client().get(self.settings.account_url) as resp:
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
        fields = {"To": message.to, "Body": message.text}
        if s.messaging_service_sid:
            fields["MessagingServiceSid"] = s.messaging_service_sid
        else:
            fields["From"] = self._sender(message.to)
        if s.status_callback:
            fields["StatusCallback"] = s.status_callback
        return fields

    def _sender(self, phone: str) -> str:
        digits = phone.lstrip("+")
        for length in (4, 3, 2, 1):
            if digits[:length] in self._senders:
                return self._senders[digits[:length]]
        return self.settings.from_number

    def _prepare(self, message: Message) -> dict[str, str]:
        return self.form(message)

    def _throttled(self, answer: Answer) -> bool:
        return answer[0] == 429 or _code(answer[1]) == TOO_MANY

    async def _post(
        self, form: dict[str, str], message: Message
    ) -> ChannelError | Accepted | Answer:
        """The answer (status, JSON body), or what its absence means."""
        self.requests += 1
        log.debug("twilio: POST %s (To %s)", self.settings.messages_url, mask_phone(message.to))
        try:
            async with self._client().post(self.settings.messages_url, data=form) as resp:
                raw = await resp.read()
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            return Refused(f"twilio unreachable ({type(exc).__name__})", 5.0)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._unknown(message, type(exc).__name__)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if resp.status in (200, 201) and isinstance(body, dict) and body.get("sid"):
            detail = {"provider": "twilio", "status": str(body.get("status", ""))}
            if body.get("num_segments"):
                detail["segments"] = str(body["num_segments"])
            return Accepted((str(body["sid"]),), detail)
        return resp.status, body

    def _error(self, answer: Answer, message: Message) -> ChannelError:
        status, body = answer
        code = _code(body)
        where = f"twilio refused the send to {mask_phone(message.to)}: HTTP {status}"
        where += f", error {code}" if code else ""
        if code == OPTED_OUT:
            if self._events is not None:
                self._events.opted_out(message.to, "twilio", f"twilio error {OPTED_OUT}")
            return PermanentChannelError(f"{where} (recipient unsubscribed: opted out)")
        if status in (401, 403) or code == AUTH_FAILED:
            return Refused(f"{where} (credentials refused)", 60.0)
        if status >= 500:
            return Refused(f"{where} (not taken)", 5.0)
        if code == INVALID_TO:
            return PermanentChannelError(f"{where} (invalid number)")
        return PermanentChannelError(where)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _code(body: Any) -> int | None:
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        return int(body["code"])
    return None
