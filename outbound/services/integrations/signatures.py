"""The shop platforms' webhook signatures: base64 of HMAC-SHA256 over the raw body.

Shopify sends it in ``X-Shopify-Hmac-SHA256`` (keyed with the app's client secret),
WooCommerce in ``X-WC-Webhook-Signature`` (keyed with the webhook's secret). Compared in
constant time against every live secret of the source, so a rotation overlaps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence


def sign(secret: str, body: bytes) -> str:
    """What the platform puts in its signature header for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(header: str | None, body: bytes, secrets: Sequence[str]) -> bool:
    """True when ``header`` is the signature of ``body`` under one of ``secrets``."""
    if not header:
        return False
    given = header.strip().encode("ascii", "replace")
    ok = False
    for secret in secrets:  # every secret is tried: the time does not say which matched
        ok |= hmac.compare_digest(sign(secret, body).encode("ascii"), given)
    return ok
