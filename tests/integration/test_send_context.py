"""The send use case's collaborators come in one object, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from outbound import bootstrap
from outbound.domain.values import Kind
from outbound.services.send import notify
from outbound.services.views.history import notification_report
from tests.integration.helpers import add_customer

NY = "+12125550100"


def test_the_send_context_is_built_once_with_the_configured_limits(
    make_app: Callable[..., bootstrap.App],
) -> None:
    app = make_app(sms={"max_parts": 3})
    ctx = app.send_context()
    assert ctx is app.send_context()
    assert ctx.limits.sms_parts == 3
    assert ctx.rules is app.rules


def test_a_context_with_another_clock_stamps_what_it_sends_with_that_clock(
    make_app: Callable[..., bootstrap.App],
) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms")
    fixed = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    ctx = replace(app.send_context(), clock=lambda: fixed)
    payload = {"order_id": "A1", "carrier": "DHL", "tracking_no": "T1", "eta": "2026-11-22"}
    with app.engine.begin() as conn:
        (done,) = notify.notify(
            conn,
            ctx,
            kind=Kind.SHIPPING,
            customer_ref=f"#{cid}",
            payload=payload,
            source="t",
            actor="t",
        )
    with app.engine.begin() as conn:
        report = notification_report(conn, done.notification_id)
    # [expiry] shipping_hours is 72 in the test config: three days after the context's clock
    assert report["expires_at"].astimezone(UTC) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
