"""The database goes away mid-test: 503 with Retry-After, nothing half-written; back: accepted once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from outbound import bootstrap
from outbound.api.signing import new_secret
from outbound.config import load_settings
from outbound.services.intake.sources import EVENT_TYPES, add_source
from outbound.store.db import make_engine, upgrade
from outbound.store.tables import notifications, webhook_receipts
from tests.api.conftest import Server, start_server
from tests.conftest import CONFIG_DIR, FrozenClock, PgCluster, pg_cluster
from tests.integration.helpers import NY, add_customer, count


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    own = pg_cluster()  # our own cluster: this test stops it
    try:
        yield own
    finally:
        own.remove()


@pytest.mark.postgres
def test_database_down_gives_503_then_the_retried_event_is_accepted_once(
    cluster: PgCluster, clock: FrozenClock
) -> None:
    url = cluster.new_database()
    upgrade(make_engine(url))
    app = bootstrap.build(
        load_settings(CONFIG_DIR, {"database": {"url": url}}, environ={}), clock=clock
    )
    with app.engine.begin() as conn:
        secret = new_secret()
        add_source(conn, "shop", list(EVENT_TYPES), 1000, secret=secret, now=clock(), actor="test")
    add_customer(app, "C1", NY)
    server: Server = start_server(app, secret)
    try:
        body = json.dumps(
            {
                "type": "shipping.dispatched",
                "data": {
                    "customer": "C1",
                    "order_id": "A1",
                    "carrier": "DHL",
                    "tracking_no": "T1",
                    "eta": "2026-11-28",
                },
            }
        ).encode()
        headers = server.signed(body, webhook_id="msg_outage")
        cluster.stop()
        down = httpx.post(f"{server.url}/v1/events", content=body, headers=headers, timeout=30)
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 503
        cluster.start()
        first = httpx.post(f"{server.url}/v1/events", content=body, headers=headers, timeout=30)
        again = httpx.post(f"{server.url}/v1/events", content=body, headers=headers, timeout=30)
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json()["notification_ids"] == first.json()["notification_ids"]
        assert count(app, notifications) == 1 and count(app, webhook_receipts) == 1
    finally:
        server.uvicorn.should_exit = True
        app.close()
