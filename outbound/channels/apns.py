"""APNs direct: token-based Apple Push Notification service over HTTP/2.

``POST {api_base}/3/device/{device token}`` with ``authorization: bearer <provider token>``,
``apns-topic`` (the bundle id), ``apns-push-type``, ``apns-priority``, ``apns-expiration``,
``apns-collapse-id`` and ``apns-id``. APNs speaks HTTP/2 only, so the request always goes by
httpx's HTTP/2 client (``PushRequest.http2_only``), the window being streams of one connection.

The provider token is an ES256 JWT (header ``alg``/``kid``, claims ``iss`` = team id, ``iat``)
signed with the .p8 key. Apple refuses one older than an hour (``ExpiredProviderToken``) and one
replaced more often than every 20 minutes (``TooManyProviderTokenUpdates``), so a token is reused
for ``[apns] token_refresh_seconds`` (20-59 minutes, default 50) and only then signed again.

Apple's reasons ("Handling notification responses from APNs"):

- ``BadDeviceToken`` (400), ``Unregistered`` / ``ExpiredToken`` (410): the subscription is
  removed, audited, and the attempt fails permanently (the ladder moves on).
- ``TooManyRequests`` (429): ``PushHttp`` halves the APNs window and sends again while the wait
  fits; after that it is transient.
- ``ExpiredProviderToken`` (403): a new token is signed (never twice within 20 minutes), transient.
- Other 403s (``InvalidProviderToken``, ``MissingProviderToken``, ``BadEnvironmentKeyInToken``,
  ``Forbidden``...): the key or team id is wrong; every send would fail the same way, so they are
  transient (retried after 5 minutes, nothing lost while the operator fixes ``[apns]``), each
  logged as an error naming the settings.
- ``TooManyProviderTokenUpdates`` (429), ``IdleTimeout`` (400), 500 ``InternalServerError``,
  503 ``ServiceUnavailable`` / ``Shutdown``: transient.
- Every other 4xx reason (``BadTopic``, ``DeviceTokenNotForTopic``, ``PayloadTooLarge``,
  ``BadExpirationDate``...): permanent for this message.

Idempotency: ``apns-collapse-id: delivery-<id>`` makes a re-sent delivery replace the first
copy on the device; ``apns-id`` is a UUID derived from the delivery id, echoed by Apple as the
provider reference.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from outbound.channels.push import PushContent, SubscriptionGone
from outbound.channels.push_http import (
    Answer,
    PushRequest,
    Refused,
    Reply,
    Unanswered,
    retry_after,
)
from outbound.domain.clock import Clock
from outbound.domain.errors import (
    ChannelError,
    ConfigError,
    PermanentChannelError,
    TransientChannelError,
)
from outbound.domain.masking import mask_endpoint
from outbound.domain.values import Outcome, SendResult, Subscription

__all__ = ["ApnsPush", "ApnsSettings", "ProviderTokens", "load_signing_key"]

log = logging.getLogger("outbound.push")

#: Apple: a provider token is refused after 60 minutes and may not be replaced within 20
TOKEN_MIN_AGE, TOKEN_MAX_AGE = 20 * 60.0, 60 * 60.0
GONE = frozenset({"BadDeviceToken", "Unregistered", "ExpiredToken"})
CREDENTIALS_RETRY = 300.0  # seconds: a refused key is an operator's fix
TRANSIENT = frozenset(
    {
        "TooManyRequests",
        "TooManyProviderTokenUpdates",
        "IdleTimeout",
        "InternalServerError",
        "ServiceUnavailable",
        "Shutdown",
    }
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_signing_key(key_file: str, key_pem: str) -> ec.EllipticCurvePrivateKey:
    """The .p8 key from ``[apns] key_file`` or ``[apns] key`` (its PEM text); errors name the
    setting and never show the key."""
    if key_pem:
        where, data = "[apns] key (OUTBOUND_APNS_KEY)", key_pem.encode()
    elif key_file:
        where = f"[apns] key_file {key_file!r}"
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{where} cannot be read ({type(exc).__name__}); give the path of the .p8 key "
                "downloaded from the Apple developer account"
            ) from None
    else:
        raise ConfigError("[apns] key_file (or OUTBOUND_APNS_KEY) is empty; give the .p8 key")
    try:
        key = serialization.load_pem_private_key(data, None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{where} is not a PEM private key ({type(exc).__name__}); use the .p8 file as "
            "Apple gave it"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{where} is not an EC P-256 key; APNs signing keys (.p8) are")
    return key


class ProviderTokens:
    """The ES256 provider token, signed again after ``refresh_seconds`` (never sooner than 20
    minutes, always before 60). Thread-safe; a token never appears in a log line or error."""

    def __init__(
        self,
        team_id: str,
        key_id: str,
        key: ec.EllipticCurvePrivateKey,
        refresh_seconds: float = 3000.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not TOKEN_MIN_AGE <= refresh_seconds < TOKEN_MAX_AGE:
            raise ConfigError(
                f"[apns] token_refresh_seconds {refresh_seconds} is outside Apple's limits; "
                "give 1200 to 3540"
            )
        self.team_id, self.key_id, self._key = team_id, key_id, key
        self.refresh = refresh_seconds
        self._now = now  # wall time: Apple checks iat against its own clock
        self._lock = threading.Lock()
        self._token = ""
        self._issued = 0.0
        self.signed = 0  # how many tokens were made (for tests and `providers check`)

    def token(self) -> str:
        with self._lock:
            if not self._token or self._now() - self._issued >= self.refresh:
                self._sign()
            return self._token

    def expired(self, used: str) -> bool:
        """APNs called ``used`` expired: sign a new one unless the current one is younger than
        20 minutes (then the clocks disagree; a new one would be refused as too frequent).
        True when a new token was made."""
        with self._lock:
            if used != self._token or self._now() - self._issued < TOKEN_MIN_AGE:
                return False
            self._sign()
            return True

    def _sign(self) -> None:
        issued = self._now()
        header = {"alg": "ES256", "kid": self.key_id}
        claims = {"iss": self.team_id, "iat": int(issued)}
        signing_input = (
            f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}."
            f"{_b64url(json.dumps(claims, separators=(',', ':')).encode())}"
        )
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        self._token, self._issued = f"{signing_input}.{_b64url(signature)}", issued
        self.signed += 1


@dataclass(frozen=True)
class ApnsSettings:
    topic: str  # the app's bundle id
    base_url: str = "https://api.push.apple.com"
    push_type: str = "alert"  # alert | background
    priority: int = 10
    expiration_seconds: int = 86400
    max_bytes: int = 4096


class ApnsPush:
    """One APNs request per device token; the answer read as Apple documents it."""

    provider = "apns"

    def __init__(self, settings: ApnsSettings, tokens: ProviderTokens, clock: Clock) -> None:
        if not settings.topic:
            raise ConfigError("[apns] topic is empty; set it to the app's bundle id")
        if settings.push_type == "background" and settings.priority != 5:
            raise ConfigError(
                f"[apns] priority {settings.priority} with push_type 'background': Apple "
                "accepts only 5 for background pushes; set priority = 5"
            )
        self.settings = settings
        self._tokens = tokens
        self._clock = clock
        self._base = settings.base_url.rstrip("/")

    def payload(self, content: PushContent) -> bytes:
        """The JSON body (``aps`` + the ids the app echoes back), refused over ``max_bytes``."""
        aps: dict[str, Any] = (
            {"content-available": 1}
            if self.settings.push_type == "background"
            else {"alert": {"title": content.title, "body": content.body}}
        )
        body = json.dumps(
            {"aps": aps, **content.data}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        if len(body) > self.settings.max_bytes:
            raise PermanentChannelError(
                f"APNs payload is {len(body)} bytes; the limit is {self.settings.max_bytes}: "
                "shorten the template"
            )
        return body

    def request(self, sub: Subscription, content: PushContent, delivery_id: int) -> PushRequest:
        body = self.payload(content)
        expiration = (
            int(self._clock().timestamp()) + self.settings.expiration_seconds
            if self.settings.expiration_seconds
            else 0
        )
        headers = {
            "authorization": f"bearer {self._tokens.token()}",
            "apns-topic": self.settings.topic,
            "apns-push-type": self.settings.push_type,
            "apns-priority": str(self.settings.priority),
            "apns-expiration": str(expiration),
            "apns-collapse-id": f"delivery-{delivery_id}",  # a resend replaces the first copy
            "apns-id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"outbound:delivery:{delivery_id}")),
            "content-type": "application/json",
        }
        url = f"{self._base}/3/device/{sub.endpoint}"
        return PushRequest(self.provider, url, headers, body, http2_only=True)

    def outcome(self, sub: Subscription, request: PushRequest, answer: Reply) -> SendResult:
        where = f"APNs send to {mask_endpoint(sub.endpoint)}"
        if isinstance(answer, Refused):  # never sent: not a push service we may reach
            raise PermanentChannelError(f"{where}: not sent: the endpoint {answer}")
        if isinstance(answer, Unanswered):
            raise TransientChannelError(f"{where}: {answer}")
        if answer.status_code == 200:
            ref = answer.headers.get("apns-id") or request.headers["apns-id"]
            return SendResult(Outcome.DELIVERED, ref, {"service": "apns"})
        reason = _reason(answer)
        raise self._error(
            f"{where}: HTTP {answer.status_code} {reason}".rstrip(), reason, answer, request
        )

    def _error(self, what: str, reason: str, answer: Answer, request: PushRequest) -> ChannelError:
        status = answer.status_code
        if reason in GONE:
            return SubscriptionGone(f"{what}; device token removed")
        if reason == "ExpiredProviderToken":
            used = request.headers["authorization"].removeprefix("bearer ")
            self._tokens.expired(used)
            return TransientChannelError(what, 1.0)
        if status == 403:
            log.error(
                "APNs refused the provider token (%s): check [apns] team_id, key_id and the "
                ".p8 key, and api_base (production or sandbox)",
                reason or "no reason",
            )
            return TransientChannelError(what, CREDENTIALS_RETRY)
        if reason in TRANSIENT or status == 429 or status >= 500:
            return TransientChannelError(
                what, retry_after(answer.headers.get("retry-after"), self._clock())
            )
        return PermanentChannelError(what)


def _reason(answer: Answer) -> str:
    """The ``reason`` of an APNs error body (``{"reason": "BadDeviceToken"}``)."""
    try:
        body = answer.json()
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""
