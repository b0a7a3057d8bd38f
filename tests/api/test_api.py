"""The webhook API over real HTTP: signatures, idempotency, limits, errors, outages."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from outbound.api.signing import bodyless, new_secret
from outbound.domain.values import Kind
from outbound.services.intake.sources import EVENT_TYPES, add_source, rotate
from outbound.store.tables import consents, customers, notifications, webhook_receipts
from tests.api.conftest import Server
from tests.integration.helpers import NY, add_customer, count, shipping, trigger


def shipping_event(order: str = "A1", customer: str = "C1") -> dict[str, Any]:
    return {
        "type": "shipping.dispatched",
        "data": {
            "customer": customer,
            "order_id": order,
            "carrier": "DHL",
            "tracking_no": f"T-{order}",
            "eta": "2026-11-28",
        },
    }


def test_signed_event_is_accepted_and_its_status_readable(server: Server) -> None:
    add_customer(server.app, "C1", NY, preference="sms")
    response = server.post(shipping_event())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["created"] is True and len(body["notification_ids"]) == 1
    nid = body["notification_ids"][0]
    status = server.read(f"/v1/notifications/{nid}")
    assert status.status_code == 200
    assert status.json()["kind"] == "shipping" and status.json()["decisions"][0]["type"] == "send"


def test_wrong_secret_is_refused_and_nothing_is_stored(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    response = server.post(shipping_event(), secret="whsec_" + "A" * 44)
    assert response.status_code == 401
    assert "signature does not match" in response.json()["detail"]
    assert count(server.app, notifications) == 0 and count(server.app, webhook_receipts) == 0


def test_unsigned_request_is_refused_with_the_missing_header_named(server: Server) -> None:
    response = httpx.post(f"{server.url}/v1/events", json=shipping_event())
    assert response.status_code == 401 and "missing webhook-id header" in response.json()["detail"]


def test_a_body_that_is_not_utf8_is_refused_as_unsigned_with_the_reason(server: Server) -> None:
    headers = server.signed(b"{}")  # Standard Webhooks signs UTF-8 text: this cannot match
    response = httpx.post(f"{server.url}/v1/events", content=b"\xff{}", headers=headers)
    assert response.status_code == 401 and "body is not UTF-8" in response.json()["detail"]
    assert count(server.app, webhook_receipts) == 0


def test_timestamps_more_than_five_minutes_off_are_refused_both_ways(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    old = server.post(shipping_event("A1"), offset=-301)
    future = server.post(shipping_event("A2"), offset=301)
    within = server.post(shipping_event("A3"), offset=-290)
    assert (old.status_code, future.status_code, within.status_code) == (401, 401, 202)
    assert "more than 5 minutes old" in old.json()["detail"]
    assert "in the future" in future.json()["detail"]


def test_rotated_secret_and_the_old_one_both_work_until_the_old_expires(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    app = server.app
    with app.engine.begin() as conn:
        new = new_secret()
        rotate(conn, "shop", timedelta(hours=1), secret=new, now=app.clock(), actor="test")
    assert server.post(shipping_event("A1"), secret=new).status_code == 202
    assert server.post(shipping_event("A2")).status_code == 202  # the old secret, still live
    app.clock.advance(hours=1, seconds=1)  # type: ignore[attr-defined]
    assert server.post(shipping_event("A3")).status_code == 401
    assert server.post(shipping_event("A4"), secret=new).status_code == 202


def test_retry_with_the_same_id_returns_the_original_and_a_changed_body_is_a_replay(
    server: Server,
) -> None:
    add_customer(server.app, "C1", NY)
    first = server.post(shipping_event("A1"), webhook_id="msg_1")
    retry = server.post(shipping_event("A1"), webhook_id="msg_1")
    replay = server.post(shipping_event("A9"), webhook_id="msg_1")
    assert first.status_code == 202 and retry.status_code == 202
    assert retry.json()["notification_ids"] == first.json()["notification_ids"]
    assert retry.json()["duplicate"] is True
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]
    assert count(server.app, notifications) == 1


def test_same_business_key_under_another_id_returns_the_same_notification(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    a = server.post(shipping_event("A1"))
    b = server.post(shipping_event("A1"))
    assert a.json()["notification_ids"] == b.json()["notification_ids"]
    assert b.json()["created"] is False


def test_hundred_identical_events_at_once_make_one_notification(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    body = json.dumps(shipping_event("A1")).encode()
    same_id = server.signed(body, webhook_id="msg_same")

    def send(i: int) -> httpx.Response:
        headers = same_id if i % 2 == 0 else server.signed(body)  # same id, or same business key
        return httpx.post(f"{server.url}/v1/events", content=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(send, range(100)))
    assert {r.status_code for r in responses} == {202}
    assert len({tuple(r.json()["notification_ids"]) for r in responses}) == 1
    assert count(server.app, notifications) == 1


def test_oversized_wrong_type_and_malformed_bodies_get_their_own_codes(server: Server) -> None:
    big = json.dumps({"type": "price.dropped", "data": {"title": "x" * 70_000}}).encode()
    assert (
        httpx.post(f"{server.url}/v1/events", content=big, headers=server.signed(big)).status_code
        == 413
    )
    plain = b"type=shipping"
    headers = {**server.signed(plain), "content-type": "text/plain"}
    assert httpx.post(f"{server.url}/v1/events", content=plain, headers=headers).status_code == 415
    bad = {
        "type": "shipping.dispatched",
        "data": {
            "customer": "C1",
            "order_id": "A1",
            "carrier": "DHL",
            "tracking_no": "T1",
            "eta": "tomorrow",
            "colour": "red",
        },
    }
    response = server.post(bad)
    assert response.status_code == 422
    problems = {tuple(p["loc"][-1:]) for p in response.json()["detail"]}
    assert ("colour",) in problems


def test_value_errors_name_the_field_and_the_value(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    response = server.post(
        shipping_event("A1") | {"data": {**shipping_event("A1")["data"], "eta": "28/11"}}
    )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "data", "eta"] and problem["input"] == "28/11"
    unknown = server.post(shipping_event("A1", customer="nobody"))
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["input"] == "nobody"
    assert count(server.app, notifications) == 0


def test_rate_limit_answers_429_with_retry_after(server: Server) -> None:
    app = server.app
    with app.engine.begin() as conn:
        slow = new_secret()
        add_source(
            conn, "slow", ["shipping.dispatched"], 1, secret=slow, now=app.clock(), actor="test"
        )
    add_customer(app, "C1", NY)
    codes = [server.post(shipping_event(f"A{i}"), secret=slow) for i in range(4)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) >= 1
    assert codes[0].status_code == 202


def test_source_may_only_send_its_allowed_event_types(server: Server) -> None:
    app = server.app
    with app.engine.begin() as conn:
        narrow = new_secret()
        add_source(
            conn, "crm", ["customer.upserted"], 100, secret=narrow, now=app.clock(), actor="test"
        )
    add_customer(app, "C1", NY)
    response = server.post(shipping_event(), secret=narrow)
    assert (
        response.status_code == 401
        and "may not send 'shipping.dispatched'" in response.json()["detail"]
    )


def test_customer_and_consent_events_sync_the_profile_and_the_ledger(server: Server) -> None:
    upsert = {
        "type": "customer.upserted",
        "data": {
            "external_id": "C7",
            "phone": "+4915112345678",
            "locale": "de-DE",
            "preference": ["push", "sms"],
            "push_subscriptions": [{"kind": "fcm", "endpoint": "tok-7"}],
            "wishlist": ["SKU-1"],
            "membership": {"tier": "gold", "expires_on": "2026-12-31"},
        },
    }
    assert server.post(upsert).status_code == 202
    consent = {
        "type": "consent.changed",
        "data": {
            "customer": "C7",
            "action": "grant",
            "channel": "sms",
            "purpose": "marketing",
            "source": "web",
            "evidence": "form v2",
        },
    }
    assert server.post(consent).status_code == 202
    drop = {
        "type": "price.dropped",
        "data": {
            "sku": "SKU-1",
            "title": "Kettle",
            "old_price": "30",
            "new_price": "20",
            "currency": "EUR",
            "url": "https://s.example/k",
        },
    }
    dropped = server.post(drop)
    assert dropped.status_code == 202 and len(dropped.json()["notification_ids"]) == 1
    with server.app.engine.begin() as conn:
        row = conn.execute(select(customers).where(customers.c.external_id == "C7")).one()
        ledger = conn.execute(
            select(consents.c.action, consents.c.channel, consents.c.source)
        ).all()
    assert (row.country, str(row.membership_expires_on)) == ("DE", "2026-12-31")
    assert [tuple(r) for r in ledger] == [("grant", "sms", "web")]


def test_health_and_readiness(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_unknown_notification_is_404_and_unsigned_status_read_is_401(server: Server) -> None:
    assert server.read("/v1/notifications/999").status_code == 404
    assert httpx.get(f"{server.url}/v1/notifications/1").status_code == 401


def test_openapi_declares_every_status_code_the_event_endpoint_returns(server: Server) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    declared = set(document["paths"]["/v1/events"]["post"]["responses"])
    assert {"202", "401", "413", "415", "422", "429", "503"} <= declared
    assert "Event" in document["components"]["schemas"]


def test_secret_never_appears_in_responses_or_audit(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    response = server.post(shipping_event(), secret="whsec_" + "B" * 44)
    assert server.secret not in response.text and "BBBB" not in response.text
    from outbound.store.tables import audit_events

    with server.app.engine.begin() as conn:
        text = " ".join(conn.execute(select(audit_events.c.data)).scalars())
    assert server.secret not in text and server.secret[6:20] not in text


def _unique() -> str:
    return uuid.uuid4().hex[:8]


def test_concurrent_distinct_events_each_get_their_own_notification(server: Server) -> None:
    add_customer(server.app, "C1", NY)
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(
            pool.map(lambda i: server.post(shipping_event(f"O{i}-{_unique()}")), range(30))
        )
    assert [r.status_code for r in responses] == [202] * 30
    assert count(server.app, notifications) == 30  # every 202 was committed before it was sent


def test_a_notification_is_readable_only_by_the_source_that_created_it(server: Server) -> None:
    app = server.app
    with app.engine.begin() as conn:
        other = new_secret()
        add_source(conn, "crm", list(EVENT_TYPES), 100, secret=other, now=app.clock(), actor="t")
    cid = add_customer(app, "C1", NY, preference="sms")
    nid = server.post(shipping_event("A1")).json()["notification_ids"][0]
    by_cli = trigger(app, Kind.SHIPPING, cid, shipping("CLI-1"), source="cli").notification_id
    path = f"/v1/notifications/{nid}"
    assert server.read(path).status_code == 200
    foreign = server.read(path, secret=other)
    assert foreign.status_code == 404, foreign.text
    assert foreign.json() == server.read("/v1/notifications/999999", secret=other).json() | {
        "detail": f"notification {nid} not found"
    }
    assert "C1" not in foreign.text and "A1" not in foreign.text
    assert server.read(f"/v1/notifications/{by_cli}").status_code == 404  # no source's


def test_a_read_signature_covers_method_and_path_and_its_id_is_single_use(
    server: Server,
) -> None:
    add_customer(server.app, "C1", NY, preference="sms")
    ids = [server.post(shipping_event(f"A{i}")).json()["notification_ids"][0] for i in (1, 2)]
    first, second = (f"/v1/notifications/{n}" for n in ids)
    headers = server.signed(bodyless("GET", first))
    assert httpx.get(f"{server.url}{first}", headers=headers).status_code == 200
    again = httpx.get(f"{server.url}{first}", headers=headers)
    assert again.status_code == 401 and "single-use" in again.json()["detail"]
    fresh = server.signed(bodyless("GET", first))
    elsewhere = httpx.get(f"{server.url}{second}", headers=fresh)
    with_query = httpx.get(f"{server.url}{first}?x=1", headers=fresh)
    old_style = httpx.get(f"{server.url}{second}", headers=server.signed(b""))
    for refused in (elsewhere, with_query, old_style):
        assert refused.status_code == 401, refused.text
        assert "signature does not match" in refused.json()["detail"]
    assert httpx.get(f"{server.url}{first}", headers=fresh).status_code == 200


@pytest.mark.parametrize(
    "timestamp",
    ["²", "١٢٣", "1e3", "-1", "1.5", str(10**12), str(10**18), str(10**20), "9" * 400, "0x10"],
)
def test_garbage_webhook_timestamp_is_a_401_naming_the_header(
    server: Server, timestamp: str
) -> None:
    body = json.dumps(shipping_event()).encode()
    headers = server.signed(body) | {"webhook-timestamp": timestamp}
    response = httpx.post(
        f"{server.url}/v1/events", content=body, headers=_latin1(headers), timeout=30
    )
    assert response.status_code == 401, response.text
    assert "webhook-timestamp" in response.json()["detail"]


@pytest.mark.parametrize("webhook_id", ["é" * 3, "a b", "x" * 256, "msg_\u00a0"])
def test_garbage_webhook_id_is_a_401_naming_the_header(server: Server, webhook_id: str) -> None:
    body = json.dumps(shipping_event()).encode()
    headers = server.signed(body) | {"webhook-id": webhook_id}
    response = httpx.post(
        f"{server.url}/v1/events", content=body, headers=_latin1(headers), timeout=30
    )
    assert response.status_code == 401, response.text
    assert "webhook-id" in response.json()["detail"]


def _latin1(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as raw bytes (UTF-8 values), as a client that sends anything would."""
    return [(k.encode(), v.encode("utf-8")) for k, v in headers.items()]


def test_a_duplicate_is_answered_with_the_status_the_openapi_declares_for_it(
    server: Server,
) -> None:
    add_customer(server.app, "C1", NY)
    first = server.post(shipping_event("A1"), webhook_id="msg_dup")
    again = server.post(shipping_event("A1"), webhook_id="msg_dup")
    assert again.json()["duplicate"] is True
    document = httpx.get(f"{server.url}/openapi.json").json()
    for path in ("/v1/events", "/v1/receipts"):
        successes = {c for c in document["paths"][path]["post"]["responses"] if c < "300"}
        assert successes == {"202"}, path  # one success: the original and its duplicates
        assert "duplicate" in document["paths"][path]["post"]["responses"]["202"]["description"]
    assert (first.status_code, again.status_code) == (202, 202)


def test_a_notification_read_gives_every_time_in_iso_8601(server: Server) -> None:
    add_customer(server.app, "C1", NY, preference="sms")
    nid = server.post(shipping_event("A1")).json()["notification_ids"][0]
    body = server.read(f"/v1/notifications/{nid}").json()
    times = [body["created_at"], body["expires_at"], *(d["due_at"] for d in body["deliveries"])]
    assert len(times) >= 3
    for stamp in times:
        assert datetime.fromisoformat(stamp).tzinfo is not None and "T" in stamp, stamp
