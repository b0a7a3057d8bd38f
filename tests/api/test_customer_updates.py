"""``customer.upserted`` through the real, signed API: an update changes only what it names."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from outbound.services.views.history import customer_report
from outbound.store.customers import customer_id_for
from outbound.store.tables import customers
from tests.api.conftest import Server

FULL = {
    "external_id": "C7",
    "name": "Ann",
    "phone": "+4915112345678",
    "timezone": "Europe/Berlin",
    "locale": "de-DE",
    "preference": ["push", "sms"],
    "push_subscriptions": [{"kind": "fcm", "endpoint": "tok-7"}],
    "wishlist": ["SKU-1"],
    "membership": {"tier": "gold", "expires_on": "2026-12-31"},
}


def _upsert(server: Server, data: dict[str, Any]) -> None:
    response = server.post({"type": "customer.upserted", "data": data})
    assert response.status_code == 202, response.text


def _profile(server: Server) -> dict[str, Any]:
    with server.app.engine.begin() as conn:
        report = customer_report(conn, customer_id_for(conn, "C7"))
        row = conn.execute(select(customers).where(customers.c.external_id == "C7")).one()
    return {
        "name": report["name"],
        "phone": row.phone_e164,
        "country": report["country"],
        "timezone": report["timezone"],
        "locale": report["locale"],
        "preference": report["preference"],
        "wishlist": report["wishlist"],
        "push_subscriptions": report["push_subscriptions"],
        "membership": [row.membership_tier, str(row.membership_expires_on)],
    }


def test_upsert_with_only_a_name_changes_the_name_and_keeps_everything_else(
    server: Server,
) -> None:
    _upsert(server, FULL)
    before = _profile(server)
    _upsert(server, {"external_id": "C7", "name": "Ann Lee"})
    after = _profile(server)
    assert after == {**before, "name": "Ann Lee"}
    assert after["phone"] == "+4915112345678" and after["preference"] == ["push", "sms"]
    assert after["membership"] == ["gold", "2026-12-31"] and after["push_subscriptions"] == 1


def test_upsert_with_explicit_nulls_clears_those_fields_only(server: Server) -> None:
    _upsert(server, FULL)
    nulls = ("phone", "timezone", "preference", "wishlist", "membership", "push_subscriptions")
    _upsert(server, {"external_id": "C7", **dict.fromkeys(nulls)})
    after = _profile(server)
    assert after["name"] == "Ann" and after["locale"] == "de-DE"
    assert after["country"] == "DE"  # not named: kept, though the phone is gone
    assert (after["phone"], after["timezone"]) == (None, None)
    assert (after["preference"], after["wishlist"], after["push_subscriptions"]) == ([], [], 0)
    assert after["membership"] == [None, "None"]


def test_a_new_phone_alone_also_updates_the_country_it_implies(server: Server) -> None:
    _upsert(server, FULL)
    _upsert(server, {"external_id": "C7", "phone": "+12125550123"})
    after = _profile(server)
    assert (after["phone"], after["country"]) == ("+12125550123", "US")
    assert after["timezone"] == "Europe/Berlin"  # named by nobody: kept


def test_openapi_says_absent_fields_are_kept_and_null_clears(server: Server) -> None:
    schema = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    found = [
        (name, prop.get("description", ""))
        for model, body in schema["components"]["schemas"].items()
        if model.startswith("CustomerIn")
        for name, prop in body.get("properties", {}).items()
    ]
    described = {name for name, text in found if "Absent: left as it is" in text}
    nullable = {"phone", "timezone", "preference", "wishlist", "membership", "push_subscriptions"}
    assert nullable <= described


def test_the_audit_trail_of_a_partial_update_names_only_what_it_wrote(server: Server) -> None:
    _upsert(server, FULL)
    _upsert(server, {"external_id": "C7", "name": "Ann Lee", "push_subscriptions": []})
    with server.app.engine.begin() as conn:
        events = customer_report(conn, customer_id_for(conn, "C7"))["events"]
    updated = [e["data"] for e in events if e["action"] == "customer.updated"]
    assert updated == [
        {"fields": ["name", "push_endpoints"], "opt_ins": [], "source": "webhook:shop"}
    ]
    assert _profile(server)["push_subscriptions"] == 0


def _state(server: Server) -> tuple[str | None, str | None]:
    with server.app.engine.begin() as conn:
        row = conn.execute(select(customers).where(customers.c.external_id == "C7")).one()
    return row.country, row.state


def test_a_partial_update_of_the_state_is_written_and_an_explicit_null_clears_it(
    server: Server,
) -> None:
    _upsert(server, {**FULL, "phone": "+12125550187", "timezone": None, "state": "NY"})
    _upsert(server, {"external_id": "C7", "state": "FL"})
    assert _state(server) == ("US", "FL")
    _upsert(server, {"external_id": "C7", "state": None})
    assert _state(server) == ("US", None)


def test_a_partial_update_at_odds_with_the_stored_phone_or_state_is_a_422_and_changes_nothing(
    server: Server,
) -> None:
    _upsert(server, {**FULL, "phone": "+12125550187", "timezone": None, "state": "NY"})
    response = server.post(
        {"type": "customer.upserted", "data": {"external_id": "C7", "country": "DE"}}
    )
    assert response.status_code == 422, response.text
    problems = {tuple(p["loc"]): p for p in response.json()["detail"]}
    assert set(problems) == {("body", "data", "country"), ("body", "data", "state")}
    assert "+1******0187" in problems[("body", "data", "country")]["msg"]
    assert "2125550187" not in response.text
    # a German number for a customer still marked as in New York: the state must go with it
    moved = {"external_id": "C7", "phone": "+4915112345678"}
    response = server.post({"type": "customer.upserted", "data": moved})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "state"
    assert _state(server) == ("US", "NY")
    _upsert(server, {**moved, "state": None})
    assert _state(server) == ("DE", None)
