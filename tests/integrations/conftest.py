"""A real API server with a Shopify and a WooCommerce source, and a poster that signs as each
platform signs (base64 HMAC-SHA256 of the raw body)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from outbound import bootstrap
from outbound.api.signing import new_secret
from outbound.services.intake.sources import EVENT_TYPES, Shop, add_source
from tests.api.conftest import Server, start_server

PAYLOADS = Path(__file__).parent / "payloads"
SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789abcdef"
WOO_SECRET = "woo-webhook-secret-42"
ERASURE_KEY = "k3y-for-tests-0123456789abcdef"
STANDARD_SECRET = new_secret()


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def hmac_b64(secret: str, body: bytes) -> str:
    """Written here from the platforms' docs, not taken from the code under test."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Shops:
    server: Server
    exports: Path

    @property
    def app(self) -> bootstrap.App:
        return self.server.app

    def shopify(
        self,
        topic: str,
        body: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        secret: str = SHOPIFY_SECRET,
        signature: str | None = None,
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": hmac_b64(secret, raw) if signature is None else signature,
            "X-Shopify-Shop-Domain": "shop-example.myshopify.com",
            "X-Shopify-API-Version": "2025-10",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": "2026-11-26T15:00:00.000000Z",
        }
        return httpx.post(
            f"{self.server.url}/v1/integrations/shopify/myshop",
            content=raw,
            headers=headers,
            timeout=30,
        )

    def woo(
        self, topic: str, body: dict[str, Any], *, delivery: str | None = None
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        resource, event = topic.split(".")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
            "X-WC-Webhook-Source": "https://woo.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": hmac_b64(WOO_SECRET, raw),
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery or uuid.uuid4().hex,
        }
        return httpx.post(
            f"{self.server.url}/v1/integrations/woocommerce/woo",
            content=raw,
            headers=headers,
            timeout=30,
        )

    def count(self, sql: str, **params: Any) -> int:
        with self.app.engine.begin() as conn:
            return int(conn.execute(text(sql), params).scalar_one())

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.app.engine.begin() as conn:
            return list(conn.execute(text(sql), params).all())

    def writes(self) -> tuple[int, ...]:
        """Rows of every table a delivery may write: nothing written leaves these as they were."""
        tables = (
            "customers",
            "consents",
            "notifications",
            "deliveries",
            "audit_events",
            "webhook_receipts",
            "shop_orders",
            "shop_prices",
        )
        return tuple(self.count(f"SELECT count(*) FROM {t}") for t in tables)


@pytest.fixture
def shops(make_app: Callable[..., bootstrap.App], tmp_path: Path) -> Iterator[Shops]:
    exports = tmp_path / "exports"
    app = make_app(privacy={"erasure_key": ERASURE_KEY, "exports_dir": str(exports)})
    with app.engine.begin() as conn:
        now = app.clock()
        add_source(
            conn, "shop", list(EVENT_TYPES), 10_000, secret=STANDARD_SECRET, now=now, actor="test"
        )
        for name, secret, shop in (
            ("myshop", SHOPIFY_SECRET, Shop("shopify", "USD", "https://shop.example")),
            ("woo", WOO_SECRET, Shop("woocommerce", "EUR", "https://woo.example")),
        ):
            add_source(conn, name, [], 10_000, secret=secret, now=now, actor="test", shop=shop)
    srv = start_server(app, STANDARD_SECRET, source_cache_seconds=60)  # sources set up above
    try:
        yield Shops(srv, exports)
    finally:
        srv.uvicorn.should_exit = True
        time.sleep(0.05)
