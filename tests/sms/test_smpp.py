"""SMS over SMPP against a real SMSC on loopback (outbound/testing/smsc_js/smsc.js), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.domain.values import Channel, Kind
from outbound.store.tables import audit_events, consents, deliveries, inbound_texts
from tests.conftest import FrozenClock
from tests.integration.helpers import NY, SHANGHAI, add_customer, shipping, trigger
from tests.sms.conftest import Smsc, eventually

AppFactory = Callable[..., bootstrap.App]


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def _sms_app(make_app: AppFactory, smsc: Smsc, **extra: Any) -> bootstrap.App:
    app = make_app(sms=smsc.settings(**extra))
    assert app.channels()[Channel.SMS].wait_bound(10)  # type: ignore[attr-defined]
    return app


def test_long_chinese_sms_is_split_as_ucs2_and_reassembled_by_the_smsc(
    make_app: AppFactory, smsc: Smsc
) -> None:
    app = _sms_app(make_app, smsc)
    text = "【商店】您的订单A1已由顺丰发出，运单号SF1234567890，预计明天送达，请保持电话畅通。" * 3
    sms = app.channels()[Channel.SMS]
    accepted = sms.send(Message(1, Channel.SMS, Kind.SHIPPING, 1, SHANGHAI, "zh-CN", text))
    (message,) = eventually(lambda: smsc.events("message"), what="the reassembled message")
    assert message["text"] == text and message["parts"] == 3 == len(accepted.provider_refs)
    assert {e["data_coding"] for e in smsc.events("submit")} == {8}
    assert all(e["registered_delivery"] == 1 for e in smsc.events("submit"))


def test_a_delivered_receipt_marks_the_delivery_delivered(make_app: AppFactory, smsc: Smsc) -> None:
    app = _sms_app(make_app, smsc)
    cid = add_customer(app, "C1", NY, preference="sms")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    assert app.dispatcher().run_once() == 1
    eventually(lambda: _rows(app)[0].status == "done", what="the receipt")
    (row,) = _rows(app)
    assert (row.channel, row.outcome) == ("sms", "delivered")
    assert row.provider_ref == smsc.events("submit")[0]["id"]
    assert row.detail["receipt"]["state"] == "DELIVRD"


def test_an_undeliverable_receipt_falls_back_to_voice_per_preference(
    make_app: AppFactory, smsc: Smsc
) -> None:
    app = _sms_app(make_app, smsc)
    cid = add_customer(app, "C1", NY, preference="sms,voice")
    smsc.command(cmd="receipt", dest=NY.lstrip("+"), stat="UNDELIV")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    dispatcher = app.dispatcher()
    dispatcher.run_once()
    assert _rows(app)[0].status == "sent" and _rows(app)[0].outcome is None
    eventually(lambda: len(_rows(app)) == 2, what="the next rung after UNDELIV")
    dispatcher.run_once()
    assert [(r.channel, r.outcome) for r in _rows(app)] == [
        ("sms", "failed"),
        ("voice", "answered"),
    ]


def test_an_expired_receipt_also_moves_the_ladder(make_app: AppFactory, smsc: Smsc) -> None:
    app = _sms_app(make_app, smsc)
    cid = add_customer(app, "C1", NY, preference="sms,voice")
    smsc.command(cmd="receipt", dest=NY.lstrip("+"), stat="EXPIRED")
    trigger(app, Kind.SHIPPING, cid, shipping("A1"))
    app.dispatcher().run_once()
    eventually(lambda: len(_rows(app)) == 2, what="the next rung after EXPIRED")
    assert _rows(app)[0].detail["receipt"]["state"] == "EXPIRED"


def _opt_out_by_reply(
    make_app: AppFactory, smsc: Smsc, phone: str, word: str, **fields: str
) -> tuple[bootstrap.App, int]:
    app = _sms_app(make_app, smsc)
    cid = add_customer(app, "C1", phone, preference="sms", **fields)
    smsc.command(cmd="mo", **{"from": phone.lstrip("+")}, text=word)
    eventually(lambda: smsc.events("mo_resp"), what="the MO acknowledgement")
    assert smsc.events("mo_resp")[0]["status"] == 0
    return app, cid


def test_mo_stop_opts_out_before_the_next_send_with_one_confirmation(
    make_app: AppFactory, smsc: Smsc, clock: FrozenClock
) -> None:
    app, cid = _opt_out_by_reply(make_app, smsc, NY, "Stop")
    with app.engine.begin() as conn:
        ledger = conn.execute(
            select(consents.c.channel, consents.c.purpose, consents.c.action)
        ).all()
    assert sorted(ledger, key=str) == sorted(
        [("sms", None, "revoke"), (None, "marketing", "revoke")], key=str
    )
    (reply,) = eventually(lambda: smsc.events("message"), what="the confirmation")
    assert "unsubscribed" in reply["text"] and "%" not in reply["text"]
    trigger(app, Kind.SHIPPING, cid, shipping("A2"))
    app.dispatcher().run_once()
    time.sleep(0.3)
    assert len(smsc.events("message")) == 1  # only the confirmation, never the shipping notice
    assert all(r.status == "suppressed" or r.channel != "sms" for r in _rows(app))


def test_mo_chinese_unsubscribe_word_opts_out_a_chinese_customer(
    make_app: AppFactory, smsc: Smsc, clock: FrozenClock
) -> None:
    clock.current = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    app, cid = _opt_out_by_reply(make_app, smsc, SHANGHAI, "退订", locale="zh-CN")
    (reply,) = eventually(lambda: smsc.events("message"), what="the confirmation")
    assert "退订" in reply["text"]
    trigger(app, Kind.SHIPPING, cid, shipping("A2"))
    app.dispatcher().run_once()
    time.sleep(0.3)
    assert len(smsc.events("submit")) == 1


def test_help_answers_program_frequency_rates_and_support(make_app: AppFactory, smsc: Smsc) -> None:
    app = _sms_app(make_app, smsc, support="help@shop.example")
    add_customer(app, "C1", NY, preference="sms")
    smsc.command(cmd="mo", **{"from": NY.lstrip("+")}, text="HELP")
    (reply,) = eventually(lambda: smsc.events("message"), what="the HELP answer")
    for part in (
        "Shop alerts",
        "Msg frequency varies",
        "Msg & data rates may apply",
        "help@shop.example",
    ):
        assert part in reply["text"]


def test_unknown_mo_text_is_kept_beside_the_chain_which_holds_its_length_only(
    make_app: AppFactory, smsc: Smsc
) -> None:
    app = _sms_app(make_app, smsc)
    cid = add_customer(app, "C1", NY, preference="sms")
    smsc.command(cmd="mo", **{"from": NY.lstrip("+")}, text="where is my parcel?")
    eventually(lambda: smsc.events("mo_resp"), what="the MO acknowledgement")
    with app.engine.begin() as conn:
        data = conn.execute(
            select(audit_events.c.data).where(
                audit_events.c.subject == f"customer#{cid}",
                audit_events.c.action == "inbound.message",
            )
        ).scalar_one()
        kept = conn.execute(
            select(inbound_texts.c.text).where(inbound_texts.c.customer_id == cid)
        ).scalar_one()
    assert kept == "where is my parcel?"
    assert "parcel" not in data and NY not in data and '"length":19' in data
    assert smsc.events("message") == []


def test_throttling_holds_the_configured_rate_across_two_workers(
    make_app: AppFactory, smsc: Smsc
) -> None:
    rate, count = 20.0, 30
    apps = [_sms_app(make_app, smsc, throughput_per_second=rate) for _ in range(2)]
    for i in range(count):
        cid = add_customer(apps[0], f"C{i}", f"+1212555{i:04d}", preference="sms")
        trigger(apps[0], Kind.SHIPPING, cid, shipping(f"A{i}"))
    workers = [app.dispatcher() for app in apps]  # two SMPP sessions, like two processes
    for worker in workers:
        worker.batch = 5
    threads = [
        threading.Thread(target=w.run, args=(threading.Event(), 0.05, True)) for w in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # the SMSC reports each submit on its stdout, which may trail the worker's last response
    eventually(lambda: len(smsc.events("submit")) >= count, what=f"{count} submits")
    stamps = sorted(e["t"] for e in smsc.events("submit"))
    assert len(stamps) == count
    achieved = (count - 1) / ((stamps[-1] - stamps[0]) / 1000)
    assert achieved <= rate * 1.2, f"{achieved:.1f}/s exceeds {rate}/s"
    assert achieved >= rate * 0.3, f"{achieved:.1f}/s is far below {rate}/s"


def test_a_dropped_connection_reconnects_without_losing_or_duplicating_a_message(
    make_app: AppFactory, smsc: Smsc
) -> None:
    # generous bounds (not waits): on a loaded machine the loopback SMSC may refuse a first
    # rebind and take seconds to accept the next; the resend must still wait for the new link
    app = _sms_app(make_app, smsc, response_timeout_seconds=20.0)
    sms = app.channels()[Channel.SMS]
    ids = [add_customer(app, f"C{i}", f"+1212555{i:04d}", preference="sms") for i in range(3)]
    trigger(app, Kind.SHIPPING, ids[0], shipping("A0"))
    app.dispatcher().run_once()
    smsc.command(cmd="kill")  # the link dies while idle
    eventually(lambda: sms.binds == 2, 30, what="the reconnect")  # type: ignore[attr-defined]
    trigger(app, Kind.SHIPPING, ids[1], shipping("A1"))
    smsc.command(cmd="drop_next")  # the link dies with a submit in flight, unacknowledged
    trigger(app, Kind.SHIPPING, ids[2], shipping("A2"))
    app.dispatcher().run_once()
    eventually(lambda: len(smsc.events("message")) == 3, 30, what="all three messages")
    time.sleep(0.3)
    dests = sorted(e["dest"] for e in smsc.events("message"))
    assert dests == sorted(f"1212555{i:04d}" for i in range(3))
    assert len(smsc.events("dropped")) == 1
    eventually(lambda: all(r.outcome == "delivered" for r in _rows(app)), what="receipts")


def test_bind_with_wrong_password_is_refused_by_the_smsc(make_app: AppFactory, smsc: Smsc) -> None:
    app = make_app(sms={**smsc.settings(), "password": "wrong"})
    assert not app.channels()[Channel.SMS].wait_bound(1.0)  # type: ignore[attr-defined]
    assert smsc.events("bind", ok=False)
