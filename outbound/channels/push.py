"""Push: ``WebPush`` (RFC 8030 / 8291 with VAPID, RFC 8292) and ``FcmPush`` (FCM HTTP v1).

``PushChannel`` is the channel adapter: it looks the customer's subscription up by the endpoint
the dispatcher chose and hands it to the sender of its kind. A subscription the service calls
gone (Web Push 404 / 410, FCM ``UNREGISTERED``) is deleted, audited, and the attempt fails
permanently, so the ladder moves on. 429 and 5xx are transient, honouring Retry-After (seconds
or an HTTP date). A payload over the service's limit is refused before any request is made.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from outbound.channels.base import Message
from outbound.channels.push_auth import TokenProvider
from outbound.domain.clock import Clock
from outbound.domain.errors import PermanentChannelError, TransientChannelError
from outbound.domain.masking import mask_endpoint
from outbound.domain.values import Channel, Outcome, SendResult, Subscription

log = logging.getLogger("outbound.push")

VAPID_LIFETIME = 12 * 3600  # the JWT's exp; services refuse more than 24 h


class _Gone(PermanentChannelError):
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


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _transient_or_permanent(resp: httpx.Response, what: str, now: datetime) -> Exception:
    status = resp.status_code
    if status == 429 or status >= 500:
        return TransientChannelError(what, retry_after(resp.headers.get("retry-after"), now))
    return PermanentChannelError(what)


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

    def __init__(self, settings: WebPushSettings, client: httpx.Client, clock: Clock) -> None:
        self.settings = settings
        self._vapid = Vapid.from_file(settings.vapid_private_key_file)
        self._client = client
        self._clock = clock

    def send(self, sub: Subscription, content: PushContent, delivery_id: int) -> SendResult:
        body = self.encrypt(sub, content)
        where = f"web push to {mask_endpoint(sub.endpoint)}"
        headers = {
            **self._vapid_headers(sub.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self.settings.ttl_seconds),
            "Urgency": self.settings.urgency,
            "Topic": f"delivery-{delivery_id}",  # replaces an undelivered earlier copy
        }
        try:
            resp = self._client.post(
                sub.endpoint, content=body, headers=headers, timeout=self.settings.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise TransientChannelError(f"{where}: {type(exc).__name__}") from None
        if resp.status_code in (200, 201, 202):
            ref = resp.headers.get("location") or None
            return SendResult(Outcome.DELIVERED, ref, {"service": urlsplit(sub.endpoint).netloc})
        if resp.status_code in (404, 410):
            raise _Gone(f"{where}: subscription gone ({resp.status_code}); removed")
        if resp.status_code == 413:
            raise PermanentChannelError(f"{where}: 413, payload of {len(body)} bytes too large")
        raise _transient_or_permanent(resp, f"{where}: HTTP {resp.status_code}", self._clock())

    def encrypt(self, sub: Subscription, content: PushContent) -> bytes:
        """The aes128gcm body, refused when over ``max_bytes`` (nothing is sent then)."""
        plain = json.dumps(
            {"title": content.title, "body": content.body, **content.data}, ensure_ascii=False
        ).encode()
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

    def __init__(
        self, settings: FcmSettings, tokens: TokenProvider, client: httpx.Client, clock: Clock
    ) -> None:
        self.settings = settings
        self._tokens = tokens
        self._client = client
        self._clock = clock
        self.url = (
            f"{settings.base_url.rstrip('/')}/v1/projects/{settings.project_id}/messages:send"
        )

    def message(self, sub: Subscription, content: PushContent) -> dict[str, Any]:
        """The v1 message, refused when notification + data exceed ``max_bytes``."""
        payload = {
            "notification": {"title": content.title, "body": content.body},
            "data": content.data,
        }
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
        if size > self.settings.max_bytes:
            raise PermanentChannelError(
                f"FCM payload is {size} bytes (notification + data); the limit is "
                f"{self.settings.max_bytes}: shorten the template"
            )
        return {"message": {"token": sub.endpoint, **payload}}

    def send(self, sub: Subscription, content: PushContent, delivery_id: int) -> SendResult:
        body = self.message(sub, content)
        where = f"FCM send to {mask_endpoint(sub.endpoint)}"
        headers = {"Authorization": f"Bearer {self._tokens.token()}"}
        try:
            resp = self._client.post(
                self.url, json=body, headers=headers, timeout=self.settings.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise TransientChannelError(f"{where}: {type(exc).__name__}") from None
        if resp.status_code == 200:
            name = str(_json(resp).get("name", "")) or None
            return SendResult(Outcome.DELIVERED, name, {"service": "fcm"})
        status, code = _fcm_error(resp)
        what = f"{where}: HTTP {resp.status_code} {status} {code}".rstrip()
        if code == "UNREGISTERED" or (resp.status_code == 404 and status == "NOT_FOUND"):
            raise _Gone(f"{what}; token removed")
        if resp.status_code == 401:  # expired or revoked access token: fetch a new one
            self._tokens.invalidate()
            raise TransientChannelError(what, 1.0)
        raise _transient_or_permanent(resp, what, self._clock())


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _fcm_error(resp: httpx.Response) -> tuple[str, str]:
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

    def remove(self, sub: Subscription, reason: str) -> bool: ...


class PushChannel:
    """The push adapter: picks ``WebPush`` or ``FcmPush`` by the subscription's kind."""

    channel = Channel.PUSH

    def __init__(
        self,
        subscriptions: SubscriptionBook,
        webpush: WebPush | None,
        fcm: FcmPush | None,
        client: httpx.Client,
        title: str = "Shop",
    ) -> None:
        self.subscriptions = subscriptions
        self.webpush = webpush
        self.fcm = fcm
        self._client = client
        self.title = title

    def send(self, message: Message) -> SendResult:
        if not message.to:
            raise PermanentChannelError(f"delivery {message.delivery_id}: no push subscription")
        sub = self.subscriptions.find(message.customer_id, message.to)
        if sub is None:
            raise PermanentChannelError(
                f"delivery {message.delivery_id}: subscription {mask_endpoint(message.to)} "
                "was removed after the message was claimed"
            )
        sender = self.webpush if sub.kind == "webpush" else self.fcm if sub.kind == "fcm" else None
        if sender is None:
            raise PermanentChannelError(
                f"{sub.kind!r} push is not configured; set the [push] keys for it"
            )
        try:
            return sender.send(sub, PushContent.of(message, self.title), message.delivery_id)
        except _Gone as gone:
            self.subscriptions.remove(sub, str(gone))
            log.info("removed a %s subscription of customer %d", sub.kind, sub.customer_id)
            raise

    def close(self) -> None:
        self._client.close()
