"""/readyz says not ready while a dialer's SIP trunk registration is failed (SQLite, PostgreSQL)."""

from __future__ import annotations

import httpx

from outbound.services.send.links import link_failures, record_link
from tests.api.conftest import Server

NAME = "sip registration sip:trunk.example.net;transport=tls"


def test_a_failed_trunk_registration_makes_readyz_503_until_it_registers_again(
    server: Server,
) -> None:
    app = server.app
    record_link(app.engine, NAME, "failed", "403 Forbidden", app.clock())
    answer = httpx.get(f"{server.url}/readyz")
    assert answer.status_code == 503
    assert NAME + ": 403 Forbidden" in answer.json()["detail"]
    record_link(app.engine, NAME, "registered", "200 OK", app.clock())
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_each_link_keeps_only_its_last_state(server: Server) -> None:
    app = server.app
    record_link(app.engine, "sip registration sip:a", "failed", "408 Request Timeout", app.clock())
    record_link(app.engine, "sip registration sip:b", "failed", "403 Forbidden", app.clock())
    record_link(app.engine, "sip registration sip:a", "off", "200 OK", app.clock())
    assert link_failures(app.engine) == ["sip registration sip:b: 403 Forbidden"]
