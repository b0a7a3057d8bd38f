"""``outbound -vv demo`` (SMS over the loopback SMSC, Web Push and FCM over the loopback
services, webhooks, the scheduler) prints no phone number, push endpoint, token or password:
not on stderr (the logs) and not on stdout (the report)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from outbound.demo.peers import ACCESS_TOKEN, PASSWORD
from outbound.store.tables import customers, push_subscriptions
from tests.demo_run import DemoRun
from tests.logcheck import leaks

pytestmark = pytest.mark.slow


def test_demo_at_vv_prints_no_number_endpoint_token_or_password(demo_run: DemoRun) -> None:
    run = demo_run  # the session's one `outbound -vv demo` run (tests/demo_run.py)
    assert "SMS via SMPP to the loopback SMSC" in run.stdout  # the real SMPP path ran
    assert " DEBUG " in run.stderr  # and the logs were at -vv
    engine = create_engine(f"sqlite:///{demo_run.db}")
    with engine.connect() as conn:
        phones = [p for (p,) in conn.execute(select(customers.c.phone_e164)) if p]
        endpoints = [e for (e,) in conn.execute(select(push_subscriptions.c.endpoint))]
    engine.dispose()
    assert len(phones) >= 40 and endpoints  # what the demo made is there to look for
    tokens = [e.rsplit("/", 1)[-1] for e in endpoints]
    secrets = [PASSWORD, ACCESS_TOKEN, *phones, *(t for t in tokens if len(t) >= 8)]
    assert leaks(run.stderr, secrets) == []
    assert leaks(run.stdout, secrets) == []
