"""Keyed hashes that outlive an erasure: a forgotten number stays recognisable, not readable.

HMAC-SHA256 under ``[privacy] erasure_key`` (kept outside the database): whoever holds only the
database cannot test guessed numbers against the hashes, which a plain SHA-256 of a phone
number (a small search space) would allow.
"""

from __future__ import annotations

import hashlib
import hmac

from outbound.domain.errors import ConfigError

#: prefix of the external id an erased customer's stub row carries
ERASED_PREFIX = "erased:"


def erasure_key(secret: str) -> bytes:
    """The configured key as bytes; an erasure without one would keep nothing usable."""
    if len(secret) < 16:
        raise ConfigError(
            "[privacy] erasure_key is not set (or shorter than 16 characters); set "
            "OUTBOUND_PRIVACY_ERASURE_KEY to a long random secret, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`, and keep it"
        )
    return secret.encode("utf-8")


def optional_key(secret: str) -> bytes | None:
    """None when no key is configured (no erasure has a number to check against then)."""
    return erasure_key(secret) if secret else None


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def phone_hash(key: bytes, phone_e164: str) -> str:
    return keyed_hash(key, "phone:" + phone_e164)


def erased_external_id(key: bytes, external_id: str) -> str:
    """The stub's external id: the shop can still find it by its own id, nobody can read it."""
    return ERASED_PREFIX + keyed_hash(key, "customer:" + external_id)[:32]
