"""Push: ``WebPush`` (RFC 8030 / 8291 with VAPID, RFC 8292) and ``FcmPush`` (FCM HTTP v1).

``PushChannel`` is the channel adapter: it looks the customer's subscription up by the endpoint
the dispatcher chose and hands it to the sender of its kind, which builds the request;
``PushHttp`` (``outbound.channels.push_http``) sends a batch of them with many in flight per
provider, and the sender reads each answer. A subscription the service calls gone (Web Push 404
/ 410, FCM ``UNREGISTERED``) is deleted, audited, and the attempt fails permanently, so the
ladder moves on. 429 and 503 slow that provider's window and are sent again while the wait fits
(see push_http); then they, and other 5xx, are transient, honouring Retry-After (seconds or an
HTTP date). A payload over the service's limit is refused before any request is made.

Idempotency: neither protocol has an idempotency key. A Web Push request carries
``Topic: delivery-<id>``, so a re-sent delivery *replaces* the first copy while the push service
still holds it (RFC 8030 §5.4); once the browser fetched it, a resend shows twice. FCM v1 has no
equivalent for notification messages (``collapse_key`` only exists per platform); the delivery
id travels in ``data`` so the app can drop a repeat. A send is repeated only when the worker's
lease expired mid-request (the reaper), so duplicates are rare, not impossible.

Both senders answer ``delivered`` on acceptance by the push service (the best signal there is);
the shop's app may report delivered/opened later through ``POST /v1/receipts``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from outbound.channels.base import Message, Result
from outbound.channels.push_auth import TokenProvider
from outbound.channels.push_http import (
    Answer,
    PushHttp,
    PushRequest,
    Refused,
    Reply,
    Unanswered,
    retry_after,
)
from outbound.domain.clock import Clock
from outbound.domain.errors import ChannelError, PermanentChannelError, TransientChannelError
from outbound.domain.masking import mask_endpoint
from outbound.domain.values import Channel, Outcome, SendResult, Subscription

__all__ = [
    "FcmPush",
    "PushChannel",
    "PushContent",
    "PushSender",
    "SubscriptionGone",
    "WebPush",
    "retry_after",
]

log = logging.getLogger("outbound.push")

#: aes128gcm bytes around the plaintext of a one-record Web Push body (see webpush_size)
WEBPUSH_OVERHEAD = 86 + 1 + 16
VAPID_LIFETIME = 12 * 3600  # the JWT's exp; services refuse more than 24 h


class SubscriptionGone(PermanentChannelError):
    """The push service says this subscription no longer exists."""


@dataclass(frozen=True)
class PushContent:
    """What a push shows; ``data`` carries ids the app echoes back in receipts."""

    title: str
    body: str
    data: dict[str, str]

    @classmethod
    def of(cls, message: Message, title: str) -> PushContent:
        data = {"delivery_id": str(message.delivery_id), "kind": message.kind.value}
        return cls(title, message.text, data)

    def webpush_plain(self) -> bytes:
        """The JSON a Web Push encrypts."""
        return json.dumps(
            {"title": self.title, "body": self.body, **self.data}, ensure_ascii=False
        ).encode()

    def webpush_size(self) -> int:
        """The encrypted size: one aes128gcm record (RFC 8188: 86-byte header with a 65-byte
        key id, a 1-byte padding delimiter, a 16-byte tag) around ``webpush_plain``."""
        return len(self.webpush_plain()) + WEBPUSH_OVERHEAD

    def fcm_payload(self) -> dict[str, Any]:
        return {"notification": {"title": self.title, "body": self.body}, "data": self.data}

    def fcm_size(self) -> int:
        """notification + data, as FCM counts a message's payload."""
        return len(
            json.dumps(self.fcm_payload(), ensure_ascii=False, separators=(",", ":")).encode()
        )


def _transient_or_permanent(resp: Answer, what: str, clock: Clock) -> ChannelError:
    status = resp.status_code
    if status == 429 or status >= 500:
        return TransientChannelError(what, retry_after(resp.headers.get("retry-after"), clock()))
    return PermanentChannelError(what)


def _no_answer(where: str, unanswered: Unanswered | Refused) -> ChannelError:
    if isinstance(unanswered, Refused):  # never sent: not a push service we may reach
        return PermanentChannelError(f"{where}: not sent: the endpoint {unanswered}")
    return TransientChannelError(f"{where}: {unanswered}")


@dataclass(frozen=True)
class WebPushSettings:
    vapid_private_key_file: str
    vapid_subject: str  # mailto: or https: contact the push service may use
    ttl_seconds: int = 86400
    max_bytes: int = 4096  # encrypted record; RFC 8030 §7.2 guarantees only 4096
    urgency: str = "normal"
    timeout_seconds: float = 10.0


class WebPush:
    """One Web Push request: aes128gcm (RFC 8291, via pywebpush) + a VAPID JWT (py_vapid)."""

    def __init__(self, settings: WebPushSettings, clock: Clock) -> None:
        self.settings = settings
        self._vapid = Vapid.from_file(settings.vapid_private_key_file)
        self._clock = clock

    def request(self, sub: Subscription, content: PushContent, delivery_id: int) -> PushRequest:
        body = self.encrypt(sub, content)
        headers = {
            **self._vapid_headers(sub.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self.settings.ttl_seconds),
            "Urgency": self.settings.urgency,
            "Topic": f"delivery-{delivery_id}",  # replaces an undelivered earlier copy
        }
        return PushRequest(urlsplit(sub.endpoint).netloc, sub.endpoint, headers, body)

    def outcome(self, sub: Subscription, request: PushRequest, answer: Reply) -> SendResult:
        where = f"web push to {mask_endpoint(sub.endpoint)}"
        if isinstance(answer, Unanswered | Refused):
            raise _no_answer(where, answer)
        if answer.status_code in (200, 201, 202):
            ref = answer.headers.get("location") or None
            return SendResult(Outcome.DELIVERED, ref, {"service": request.provider})
        if answer.status_code in (404, 410):
            raise SubscriptionGone(f"{where}: subscription gone ({answer.status_code}); removed")
        if answer.status_code == 413:
            raise PermanentChannelError(
                f"{where}: 413, payload of {len(request.body)} bytes too large"
            )
        raise _transient_or_permanent(answer, f"{where}: HTTP {answer.status_code}", self._clock)

    def encrypt(self, sub: Subscription, content: PushContent) -> bytes:
        """The aes128gcm body, refused when over ``max_bytes`` (nothing is sent then)."""
        plain = content.webpush_plain()
        try:
            pusher = WebPusher({"endpoint": sub.endpoint, "keys": dict(sub.keys)})
            body: bytes = pusher.encode(plain, "aes128gcm")["body"]
        except (WebPushException, ValueError) as exc:
            raise PermanentChannelError(
                f"web push subscription {mask_endpoint(sub.endpoint)} has no usable "
                f"keys (p256dh, auth): {type(exc).__name__}"
            ) from None
        if len(body) > self.settings.max_bytes:
            raise PermanentChannelError(
                f"web push payload is {len(body)} bytes encrypted ({len(plain)} plain); "
                f"the limit is {self.settings.max_bytes}: shorten the template"
            )
        return body

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims: dict[str, Any] = {
            "sub": self.settings.vapid_subject,
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_LIFETIME,  # wall time: the service checks it so
        }
        return {str(k): str(v) for k, v in self._vapid.sign(claims).items()}


@dataclass(frozen=True)
class FcmSettings:
    project_id: str
    base_url: str = "https://fcm.googleapis.com"
    max_bytes: int = 4000  # notification + data, as FCM counts a message's payload
    timeout_seconds: float = 10.0


class FcmPush:
    """``POST {base_url}/v1/projects/{project}/messages:send`` with a Bearer token."""

    provider = "fcm"

    def __init__(self, settings: FcmSettings, tokens: TokenProvider, clock: Clock) -> None:
        self.settings = settings
        self._tokens = tokens
        self._clock = clock
        self.url = (
            f"{settings.base_url.rstrip('/')}/v1/projects/{settings.project_id}/messages:send"
        )

    def message(self, sub: Subscription, content: PushContent) -> dict[str, Any]:
        """The v1 message, refused when notification + data exceed ``max_bytes``."""
        payload = content.fcm_payload()
        size = content.fcm_size()
        if size > self.settings.max_bytes:
            raise PermanentChannelError(
                f"FCM payload is {size} bytes (notification + data); the limit is "
                f"{self.settings.max_bytes}: shorten the template"
            )
        return {"message": {"token": sub.endpoint, **payload}}

    def request(self, sub: Subscription, content: PushContent, delivery_id: int) -> PushRequest:
        body = json.dumps(self.message(sub, content), ensure_ascii=False).encode()
        headers = {
            "Authorization": f"Bearer {self._tokens.token()}",
            "Content-Type": "application/json",
        }
        return PushRequest(self.provider, self.url, headers, body)

    def outcome(self, sub: Subscription, request: PushRequest, answer: Reply) -> SendResult:
        where = f"FCM send to {mask_endpoint(sub.endpoint)}"
        if isinstance(answer, Unanswered | Refused):
            raise _no_answer(where, answer)
        if answer.status_code == 200:
            name = str(_json(answer).get("name", "")) or None
            return SendResult(Outcome.DELIVERED, name, {"service": "fcm"})
        status, code = _fcm_error(answer)
        what = f"{where}: HTTP {answer.status_code} {status} {code}".rstrip()
        if code == "UNREGISTERED" or (answer.status_code == 404 and status == "NOT_FOUND"):
            raise SubscriptionGone(f"{what}; token removed")
        if answer.status_code == 401:  # expired or revoked access token: fetch a new one
            self._tokens.invalidate()
            raise TransientChannelError(what, 1.0)
        raise _transient_or_permanent(answer, what, self._clock)


def _json(resp: Answer) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _fcm_error(resp: Answer) -> tuple[str, str]:
    """(``error.status``, the FcmError ``errorCode``) of an FCM v1 error body."""
    error = _json(resp).get("error")
    if not isinstance(error, dict):
        return "", ""
    codes = [
        str(d.get("errorCode"))
        for d in error.get("details") or []
        if isinstance(d, dict) and d.get("errorCode")
    ]
    return str(error.get("status", "")), codes[0] if codes else ""


class SubscriptionBook(Protocol):
    """Where the adapter looks a subscription up and removes one the service called gone."""

    def find(self, customer_id: int, endpoint: str) -> Subscription | None: ...

    def find_many(self, keys: Sequence[tuple[int, str]]) -> list[Subscription | None]:
        """``find`` for every (customer id, endpoint) of a batch, in one look."""
        ...

    def remove(self, sub: Subscription, reason: str) -> bool: ...


class PushSender(Protocol):
    """One push service's protocol: the request for a subscription, the outcome of its answer
    (``SubscriptionGone`` when the service says the subscription no longer exists)."""

    def request(self, sub: Subscription, content: PushContent, delivery_id: int) -> PushRequest: ...

    def outcome(self, sub: Subscription, request: PushRequest, answer: Reply) -> SendResult: ...


Sender = PushSender


@dataclass(frozen=True)
class _Planned:
    index: int
    sender: Sender
    sub: Subscription
    request: PushRequest


class PushChannel:
    """The push adapter: picks ``WebPush`` or ``FcmPush`` by the subscription's kind and sends a
    batch through ``PushHttp``'s windows (``send`` is a batch of one)."""

    channel = Channel.PUSH

    def __init__(
        self,
        subscriptions: SubscriptionBook,
        webpush: WebPush | None,
        fcm: FcmPush | None,
        http: PushHttp,
        client: httpx.Client | None = None,
        title: str = "Shop",
        apns: PushSender | None = None,
    ) -> None:
        self.subscriptions = subscriptions
        self.webpush = webpush
        self.fcm = fcm
        self.http = http
        self._client = client  # the sync client of the token grants, closed with the adapter
        self.title = title
        self.senders: dict[str, PushSender | None] = {"webpush": webpush, "fcm": fcm, "apns": apns}

    def send(self, message: Message) -> SendResult:
        (result,) = self.send_batch([message])
        if isinstance(result, ChannelError):
            raise result
        assert isinstance(result, SendResult)  # push has no receipts to wait for
        return result

    def send_batch(self, messages: Sequence[Message]) -> list[Result]:
        """Every message's request built here, sent together, each answer read here."""
        results: list[Result] = [TransientChannelError("not sent")] * len(messages)
        planned: list[_Planned] = []
        keys = [(m.customer_id, m.to) for m in messages if m.to]
        found = dict(zip(keys, self.subscriptions.find_many(keys), strict=True))
        for i, message in enumerate(messages):
            try:
                planned.append(self._plan(i, message, found.get((message.customer_id, message.to))))
            except ChannelError as exc:
                results[i] = exc
            except Exception as exc:  # a bug must not lose the batch: retried later
                log.exception("push adapter crashed on delivery %d", message.delivery_id)
                results[i] = TransientChannelError(f"adapter crashed: {type(exc).__name__}")
        answers = self.http.post_all([p.request for p in planned])
        for plan, answer in zip(planned, answers, strict=True):
            results[plan.index] = self._outcome(plan, answer)
        return results

    def _plan(self, index: int, message: Message, sub: Subscription | None) -> _Planned:
        if not message.to:
            raise PermanentChannelError(f"delivery {message.delivery_id}: no push subscription")
        if sub is None:
            raise PermanentChannelError(
                f"delivery {message.delivery_id}: subscription {mask_endpoint(message.to)} "
                "was removed after the message was claimed"
            )
        sender = self.senders.get(sub.kind)
        if sender is None:
            where = "[apns] team_id, key_id, key_file, topic" if sub.kind == "apns" else "[push]"
            raise PermanentChannelError(
                f"{sub.kind!r} push is not configured; set the {where} keys for it"
            )
        content = PushContent.of(message, self.title)
        return _Planned(index, sender, sub, sender.request(sub, content, message.delivery_id))

    def _outcome(self, plan: _Planned, answer: Reply) -> Result:
        try:
            return plan.sender.outcome(plan.sub, plan.request, answer)
        except SubscriptionGone as gone:
            self.subscriptions.remove(plan.sub, str(gone))
            log.info(
                "removed a %s subscription of customer %d", plan.sub.kind, plan.sub.customer_id
            )
            return gone
        except ChannelError as exc:
            return exc

    def close(self) -> None:
        self.http.close()
        if self._client is not None:
            self._client.close()
