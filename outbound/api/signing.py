"""Standard Webhooks signatures: ``v1,`` + base64(HMAC-SHA256(secret, "id.timestamp.body")).

Secrets look like ``whsec_<base64 key>``; a ``webhook-signature`` header may carry several
space-separated signatures (the sender signs with every live secret during a rotation). Every
comparison is constant-time. Timestamps more than five minutes off are refused both ways.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

PREFIX = "whsec_"
TOLERANCE = timedelta(minutes=5)


class SignatureError(Exception):
    """Why a request was refused (safe to return to the caller: names no secret)."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(PREFIX) :] if secret.startswith(PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        return raw.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Verified:
    webhook_id: str
    timestamp: datetime
    secret_index: int  # which of the candidate secrets matched


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.title())
    if not value:
        raise SignatureError(
            f"missing {name} header (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)"
        )
    return value


def parse_timestamp(raw: str, now: datetime) -> datetime:
    if not raw.isdigit():
        raise SignatureError(f"webhook-timestamp {raw[:20]!r} is not Unix seconds")
    sent = datetime.fromtimestamp(int(raw), tz=now.tzinfo)
    if sent < now - TOLERANCE:
        raise SignatureError("webhook-timestamp is more than 5 minutes old")
    if sent > now + TOLERANCE:
        raise SignatureError("webhook-timestamp is more than 5 minutes in the future")
    return sent


def verify(
    headers: Mapping[str, str], body: bytes, candidates: Iterable[str], now: datetime
) -> Verified:
    """Check the headers against every candidate secret; raise SignatureError with a reason."""
    webhook_id = _header(headers, "webhook-id")
    raw_ts = _header(headers, "webhook-timestamp")
    offered = [s for s in _header(headers, "webhook-signature").split() if s.startswith("v1,")]
    if not offered:
        raise SignatureError("webhook-signature has no v1 signature")
    sent = parse_timestamp(raw_ts, now)
    for index, secret in enumerate(candidates):
        expected = sign(secret, webhook_id, int(raw_ts), body).encode()
        # compare against every offered signature without short-circuiting on content
        if any(hmac.compare_digest(expected, sig.encode()) for sig in offered):
            return Verified(webhook_id, sent, index)
    raise SignatureError("signature does not match any secret of any source")
