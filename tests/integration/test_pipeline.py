"""Trigger -> plan -> claim -> send -> record, on SQLite and PostgreSQL (real databases)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from outbound import bootstrap
from outbound.domain.errors import PermanentChannelError, TransientChannelError, ValidationError
from outbound.domain.values import Channel, ConsentAction, Kind, Outcome, Purpose, SendResult
from outbound.services.people.customers import add_consent
from outbound.services.send import notify
from outbound.store import audit
from outbound.store.tables import (
    audit_events,
    cap_counters,
    deliveries,
    log_sends,
    notifications,
)
from tests.conftest import FrozenClock
from tests.integration.helpers import (
    BERLIN,
    NY,
    SHANGHAI,
    ScriptedChannel,
    add_customer,
    always,
    count,
    shipping,
    trigger,
)

AppFactory = Callable[..., bootstrap.App]


def _channels(**answers: Callable[..., object]) -> dict[Channel, ScriptedChannel]:
    return {c: ScriptedChannel(c, answers.get(c.value, always(Outcome.DELIVERED))) for c in Channel}  # type: ignore[arg-type]


def test_repeated_event_returns_the_original_notification_and_queues_one_delivery(
    make_app: AppFactory,
) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms")
    first = trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    second = trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    assert first.created and not second.created
    assert second.notification_id == first.notification_id
    assert count(app, notifications) == 1
    assert count(app, deliveries) == 1


def test_bad_payload_names_every_field_and_writes_nothing(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY)
    with pytest.raises(ValidationError) as err:
        trigger(
            app,
            Kind.PRICE_DROP,
            cid,
            {
                "sku": "S1",
                "title": "Kettle",
                "old_price": "10",
                "new_price": "abc",
                "currency": "usd",
                "colour": "red",
            },
        )
    text = str(err.value)
    assert "data.new_price: 'abc'" in text
    assert "data.currency: 'usd'" in text
    assert "data.url: None is required" in text
    assert "data.colour: 'red' is not a price_drop field" in text
    assert count(app, notifications) == 0 and count(app, audit_events) == 1  # only the customer


def test_unknown_kind_is_rejected_with_the_known_kinds() -> None:
    with pytest.raises(
        ValidationError,
        match="kind: 'parcel' is not a notification kind; use shipping, renewal, price_drop",
    ):
        notify.parse_kind("parcel")


def test_price_drop_fans_out_to_each_wishlist_once_per_new_price(make_app: AppFactory) -> None:
    app = make_app()
    a = add_customer(app, "A", NY, wishlist="SKU-1;SKU-2", opt_in="sms:marketing")
    b = add_customer(app, "B", BERLIN, wishlist="SKU-1")
    add_customer(app, "C", SHANGHAI, wishlist="SKU-3")
    payload = {
        "sku": "SKU-1",
        "title": "Kettle",
        "old_price": "30",
        "new_price": "25",
        "currency": "EUR",
        "url": "https://shop.example/k",
    }

    def fan(p: dict[str, str]) -> list[int]:
        with app.engine.begin() as conn:
            done = notify.price_drop_fanout(conn, app.send_context(), p, source="t", actor="t")
        return [d.notification_id for d in done if d.created]

    assert len(fan(payload)) == 2
    assert fan(payload) == []  # same event again: nobody twice
    assert len(fan({**payload, "new_price": "20"})) == 2  # a further drop is news
    with app.engine.begin() as conn:
        owners = sorted(conn.execute(select(notifications.c.customer_id)).scalars())
    assert owners == sorted([a, a, b, b])


def test_delivery_deferred_by_quiet_hours_is_sent_after_the_window_opens(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = make_app()
    cid = add_customer(app, "C1", SHANGHAI, timezone="Asia/Shanghai", preference="sms")
    result = trigger(app, Kind.SHIPPING, cid, shipping())  # 23:00 in Shanghai
    with app.engine.begin() as conn:
        due = conn.execute(select(deliveries.c.due_at)).scalar_one()
    assert due == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 CST next morning
    channels = _channels()
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    assert worker.run_once() == 0
    clock.current = due
    assert worker.run_once() == 1
    assert [m.delivery_id for m in channels[Channel.SMS].sent] == [1]
    with app.engine.begin() as conn:
        status = conn.execute(
            select(notifications.c.status).where(notifications.c.id == result.notification_id)
        ).scalar_one()
    assert status == "reached"


def test_consent_revoked_after_enqueue_suppresses_at_claim_time(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms", opt_in="sms:marketing")
    trigger(
        app,
        Kind.PRICE_DROP,
        cid,
        {
            "sku": "S",
            "title": "T",
            "old_price": "9",
            "new_price": "5",
            "currency": "USD",
            "url": "https://shop.example/s",
        },
    )
    with app.engine.begin() as conn:
        add_consent(
            conn,
            cid,
            None,
            None,
            ConsentAction.REVOKE,
            source="sms",
            evidence="STOP",
            actor="test",
            now=app.clock(),
        )
    channels = _channels()
    app.dispatcher(channels).run_once()  # type: ignore[arg-type]
    assert channels[Channel.SMS].sent == []
    with app.engine.begin() as conn:
        assert conn.execute(select(notifications.c.status)).scalar_one() == "suppressed"
        assert conn.execute(select(deliveries.c.status)).scalar_one() == "suppressed"


def test_failed_sms_falls_back_to_the_next_preferred_channel(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms>voice")
    trigger(app, Kind.SHIPPING, cid, shipping())
    channels = _channels(sms=always(Outcome.FAILED), voice=always(Outcome.ANSWERED))
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    worker.run_once()
    worker.run_once()
    with app.engine.begin() as conn:
        rows = conn.execute(
            select(deliveries.c.rung, deliveries.c.channel, deliveries.c.outcome).order_by(
                deliveries.c.id
            )
        ).all()
        status = conn.execute(select(notifications.c.status)).scalar_one()
    assert [tuple(r) for r in rows] == [(0, "sms", "failed"), (1, "voice", "answered")]
    assert status == "reached"


def test_transient_error_is_retried_with_backoff_then_sent(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms")
    trigger(app, Kind.SHIPPING, cid, shipping())
    answers = iter(
        [
            TransientChannelError("SMSC throttled", retry_after=120),
            SendResult(Outcome.DELIVERED, "r"),
        ]
    )
    channels = _channels(sms=lambda m: next(answers))
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    worker.run_once()
    with app.engine.begin() as conn:
        row = conn.execute(select(deliveries)).one()
    assert row.status == "queued" and row.due_at == clock.current.replace(microsecond=0) + (
        row.due_at - clock.current
    )
    assert (row.due_at - clock.current).total_seconds() == 120  # Retry-After beats the 30 s base
    clock.advance(seconds=121)
    worker.run_once()
    with app.engine.begin() as conn:
        row = conn.execute(select(deliveries)).one()
    assert (row.status, row.outcome, row.attempts) == ("done", "delivered", 2)


def test_permanent_rejection_releases_the_cap_and_moves_the_ladder(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms>voice")
    trigger(app, Kind.SHIPPING, cid, shipping())
    channels = _channels(sms=lambda m: PermanentChannelError("invalid destination"))
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    worker.run_once()
    with app.engine.begin() as conn:
        counters = dict(conn.execute(select(cap_counters.c.key, cap_counters.c.n)).all())  # type: ignore[arg-type]
        first = conn.execute(select(deliveries).order_by(deliveries.c.id)).first()
    assert first is not None and first.outcome == "rejected"
    assert any(":sms_per_day:" in k for k in counters)  # the operator cap was reserved ...
    assert all(n == 0 for k, n in counters.items() if ":sms_per_day:" in k)  # ... and released


def test_daily_sms_cap_moves_the_fourth_notice_to_the_next_channel(make_app: AppFactory) -> None:
    app = make_app()  # config/outbound.toml: sms_per_day limit 3
    cid = add_customer(app, "C1", NY, preference="sms>voice")
    for i in range(4):
        trigger(app, Kind.SHIPPING, cid, shipping(f"A{i}"))
    channels = _channels(voice=always(Outcome.ANSWERED))
    app.dispatcher(channels).run_once()  # type: ignore[arg-type]
    assert len(channels[Channel.SMS].sent) == 3
    assert len(channels[Channel.VOICE].sent) == 1


def test_expired_price_drop_is_not_sent_late(make_app: AppFactory, clock: FrozenClock) -> None:
    app = make_app()
    cid = add_customer(
        app, "C1", SHANGHAI, preference="push", push_token="tok-1", opt_in="push:marketing"
    )
    trigger(
        app,
        Kind.PRICE_DROP,
        cid,
        {
            "sku": "S",
            "title": "T",
            "old_price": "9",
            "new_price": "5",
            "currency": "CNY",
            "url": "https://shop.example/s",
        },
    )
    clock.advance(hours=25)
    channels = _channels()
    app.dispatcher(channels).run_once()  # type: ignore[arg-type]
    assert channels[Channel.PUSH].sent == []
    with app.engine.begin() as conn:
        assert conn.execute(select(notifications.c.status)).scalar_one() == "expired"


def test_audit_verify_reports_the_first_edited_and_the_missing_row(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms")
    for i in range(3):
        trigger(app, Kind.SHIPPING, cid, shipping(f"A{i}"))
    with app.engine.begin() as conn:
        assert audit.verify(conn).ok
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(actor="mallory"))
    with app.engine.begin() as conn:
        result = audit.verify(conn)
        assert (result.ok, result.broken_at, result.checked) == (False, 3, 2)
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(actor="test"))
        conn.execute(audit_events.delete().where(audit_events.c.seq == 2))
    with app.engine.begin() as conn:
        result = audit.verify(conn)
    assert (result.broken_at, "gap" in result.problem) == (2, True)


def test_audit_text_masks_phone_numbers(make_app: AppFactory) -> None:
    app = make_app()
    add_customer(app, "C1", NY, preference="sms")
    with app.engine.begin() as conn:
        data = " ".join(conn.execute(select(audit_events.c.data)).scalars())
    assert NY not in data and NY[-4:] in data


def test_purpose_of_each_kind_is_recorded(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms", membership_tier="gold")
    trigger(
        app,
        Kind.RENEWAL,
        cid,
        {"tier": "gold", "expires_on": "2026-12-05", "renew_url": "https://shop.example/r"},
    )
    with app.engine.begin() as conn:
        assert conn.execute(select(notifications.c.purpose)).scalar_one() == Purpose.SERVICE.value


def test_worker_hands_a_delivery_for_another_channel_to_that_channels_worker(
    make_app: AppFactory,
) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="voice>sms")
    trigger(app, Kind.SHIPPING, cid, shipping())
    sms_only = {Channel.SMS: ScriptedChannel(Channel.SMS, always(Outcome.DELIVERED))}
    assert app.dispatcher(sms_only).run_once() == 0  # type: ignore[arg-type]
    with app.engine.begin() as conn:
        row = conn.execute(select(deliveries)).one()
    assert (row.status, row.channel, row.attempts) == ("queued", "voice", 0)
    dialer = {Channel.VOICE: ScriptedChannel(Channel.VOICE, always(Outcome.ANSWERED))}
    assert app.dispatcher(dialer).run_once() == 1  # type: ignore[arg-type]
    assert sms_only[Channel.SMS].sent == [] and len(dialer[Channel.VOICE].sent) == 1


def test_two_notifications_of_one_customer_keep_separate_ladders(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="sms>voice")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    channels = _channels(
        sms=lambda m: SendResult(Outcome.FAILED if m.delivery_id == 1 else Outcome.DELIVERED)
    )
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    worker.run_once()  # A1 by sms fails -> rung 1 queued
    trigger(app, Kind.SHIPPING, cid, shipping("A2"))
    worker.run_once()  # rung 1 of A1 goes by voice, A2 still starts with sms
    with app.engine.begin() as conn:
        rows = conn.execute(
            select(notifications.c.dedupe_key, deliveries.c.rung, deliveries.c.channel)
            .join(notifications)
            .order_by(deliveries.c.id)
        ).all()
    by_order = {(r.dedupe_key.split(":")[2], r.rung): r.channel for r in rows}
    assert by_order == {("A1", 0): "sms", ("A1", 1): "voice", ("A2", 0): "sms"}


def test_opt_out_footer_goes_on_sms_but_not_on_push(make_app: AppFactory) -> None:
    app = make_app()
    cid = add_customer(app, "C1", NY, preference="push>sms", push_token="tok-1")
    trigger(app, Kind.SHIPPING, cid, shipping())
    channels = _channels(push=always(Outcome.FAILED))
    worker = app.dispatcher(channels)  # type: ignore[arg-type]
    worker.run_once()
    worker.run_once()
    (push,) = channels[Channel.PUSH].sent
    (sms,) = channels[Channel.SMS].sent
    assert "A1" in push.text and "STOP" not in push.text
    assert sms.text.endswith("Reply STOP to opt out.")


def test_sms_and_push_texts_name_the_configured_brand_not_shop(make_app: AppFactory) -> None:
    app = make_app(brand={"name": "Acme"})
    texting = add_customer(app, "C1", NY, preference="sms")
    pushed = add_customer(app, "C2", BERLIN, preference="push", push_token="tok-2")
    trigger(app, Kind.SHIPPING, texting, shipping("A1"))
    trigger(app, Kind.SHIPPING, pushed, shipping("A2"))
    app.dispatcher().run_once()  # the configured adapters: the log channel records each send
    with app.engine.begin() as conn:
        sent = dict(conn.execute(select(log_sends.c.channel, log_sends.c.text)).tuples().all())
    assert sent["sms"].startswith("Acme: your order A1") and "Shop" not in sent["sms"]
    assert (
        sent["push"] == "Acme: order A2 is with DHL (tracking T-A2) and arrives November 28, 2026."
    )


def test_sent_sms_without_any_receipt_is_closed_as_delivered_after_the_timeout(
    make_app: AppFactory, clock: FrozenClock
) -> None:
    from outbound.domain.values import Accepted

    app = make_app()  # [sms] receipt_timeout_hours = 48
    cid = add_customer(app, "C1", NY, preference="sms>voice")
    trigger(app, Kind.SHIPPING, cid, shipping())
    channels = _channels(sms=lambda m: Accepted(("smsc-1",), {}))
    app.dispatcher(channels).run_once()  # type: ignore[arg-type]
    clock.advance(hours=47)
    assert app.silent_receipts().run_once() == 0
    with app.engine.begin() as conn:
        assert conn.execute(select(deliveries.c.status)).scalar_one() == "sent"
    clock.advance(hours=2)
    assert app.silent_receipts().run_once() == 1
    with app.engine.begin() as conn:
        rows = conn.execute(
            select(deliveries.c.status, deliveries.c.outcome, deliveries.c.detail)
        ).all()
        status = conn.execute(select(notifications.c.status)).scalar_one()
    assert [(r.status, r.outcome) for r in rows] == [("done", "delivered")]  # no second channel
    assert "no receipt within 48 h" in rows[0].detail["receipt"] and status == "reached"


def test_explicit_channel_list_replaces_the_preference_but_not_the_policy(
    make_app: AppFactory,
) -> None:
    from outbound.services.send import planning
    from outbound.store.notifications import NewNotification

    app = make_app()
    cid = add_customer(app, "C1", NY, preference="push", push_token="tok-1")
    link = NewNotification(
        kind=Kind.RENEWAL,
        purpose=Purpose.SERVICE,
        customer_id=cid,
        payload={"tier": "gold", "expires_on": "2026-12-05", "renew_url": "https://shop.example/r"},
        dedupe_key="renewal:link",
        expires_at=None,
        source="voice",
        channels=(Channel.SMS,),
    )
    with app.engine.begin() as conn:
        (done,) = planning.enqueue(conn, [link], rules=app.rules, now=app.clock(), actor="test")
    channels = _channels()
    app.dispatcher(channels).run_once()  # type: ignore[arg-type]
    assert channels[Channel.PUSH].sent == [] and len(channels[Channel.SMS].sent) == 1
    with app.engine.begin() as conn:
        add_consent(
            conn,
            cid,
            Channel.SMS,
            None,
            ConsentAction.REVOKE,
            source="sms",
            evidence="STOP",
            actor="test",
            now=app.clock(),
        )
        again = NewNotification(**{**link.__dict__, "dedupe_key": "renewal:link2"})
        (second,) = planning.enqueue(conn, [again], rules=app.rules, now=app.clock(), actor="test")
    assert done.created and second.decision is not None
    assert second.decision.reason.startswith("no consented, reachable channel")  # type: ignore[union-attr]
