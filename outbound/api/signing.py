"""Standard Webhooks signatures, made by the reference ``standardwebhooks`` package.

Secrets look like ``whsec_<base64 key>``; a ``webhook-signature`` header may carry several
space-separated signatures (the sender signs with every live secret during a rotation), and the
caller passes every live secret of every source: ``Verified.secret_index`` says which matched.
Every comparison is constant-time. Timestamps more than five minutes off are refused both ways.

The package signs; the checks of the headers and of the timestamp stay here, because its
``Webhook.verify`` reads the wall clock (ours is injected, frozen in tests) and says only
"Missing required headers" where we name the header.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

PREFIX = "whsec_"
TOLERANCE = timedelta(minutes=5)


class SignatureError(Exception):
    """Why a request was refused (safe to return to the caller: names no secret)."""


def new_secret() -> str:
    """A fresh ``whsec_`` secret (32 random bytes), for ``outbound source add|rotate``."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body``; the body must be UTF-8 text."""
    sent = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(webhook_id, sent, body.decode("utf-8"))


def bodyless(method: str, target: str | bytes) -> bytes:
    """What a request without a body (``GET``) signs in place of its empty body: the method in
    capitals, one space and the request target exactly as sent in the request line — the path
    (percent-encoding kept) and, if there is one, ``?`` and the query — e.g.
    ``GET /v1/notifications/7``. So the signature is ``v1,<base64 HMAC-SHA256 of
    id.timestamp.GET /v1/notifications/7>`` and covers which resource is read."""
    raw = target.encode("utf-8") if isinstance(target, str) else target
    return method.upper().encode("ascii") + b" " + raw


@dataclass(frozen=True)
class Verified:
    webhook_id: str
    timestamp: datetime
    secret_index: int  # which of the candidate secrets matched


#: what a ``webhook-id`` may be: printable ASCII, as long as the receipts table stores
WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,255}")
#: a Unix timestamp in seconds: ASCII digits only, at most 12 of them (the tolerance check
#: refuses the far past and future before any date is built, so no value can overflow)
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.title())
    if not value:
        raise SignatureError(
            f"missing {name} header (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)"
        )
    return value


def _shown(raw: str) -> str:
    """A header value as a refusal may quote it: cut, and only printable ASCII."""
    return raw[:20].encode("ascii", "backslashreplace").decode()


def parse_timestamp(raw: str, now: datetime) -> datetime:
    """Unix seconds within ``TOLERANCE`` of ``now``; anything else is a SignatureError."""
    if not UNIX_SECONDS.fullmatch(raw):
        raise SignatureError(
            f"webhook-timestamp '{_shown(raw)}' is not Unix seconds (ASCII digits, e.g. 1764169200)"
        )
    offset = int(raw) - now.timestamp()
    if offset < -TOLERANCE.total_seconds():
        raise SignatureError("webhook-timestamp is more than 5 minutes old")
    if offset > TOLERANCE.total_seconds():
        raise SignatureError("webhook-timestamp is more than 5 minutes in the future")
    return datetime.fromtimestamp(int(raw), tz=now.tzinfo)


def verify(
    headers: Mapping[str, str], body: bytes, candidates: Iterable[str], now: datetime
) -> Verified:
    """Check the headers against every candidate secret; raise SignatureError with a reason."""
    webhook_id = _header(headers, "webhook-id")
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise SignatureError(
            f"webhook-id '{_shown(webhook_id)}' is not 1-255 printable ASCII characters"
        )
    raw_ts = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature").split()
    offered = [s.encode() for s in signatures if s.startswith("v1,")]
    if not offered:
        raise SignatureError("webhook-signature has no v1 signature")
    sent = parse_timestamp(raw_ts, now)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8 text, so its signature cannot match") from None
    for index, secret in enumerate(candidates):
        try:
            signer = Webhook(secret)
        except (ValueError, EmptyWebhookSecretError):  # not base64, or empty: cannot match
            continue
        expected = signer.sign(webhook_id, sent.astimezone(UTC), text).encode()
        # compare against every offered signature without short-circuiting on content
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return Verified(webhook_id, sent, index)
    raise SignatureError("signature does not match any secret of any source")
