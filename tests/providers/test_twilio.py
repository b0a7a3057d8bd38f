"""Twilio's Messages API, status callbacks and inbound messages, against a Twilio-shaped loopback
server and the real API on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from outbound import bootstrap
from outbound.channels.base import Message
from outbound.channels.twilio import signature
from outbound.domain.values import Channel, Kind
from outbound.store.tables import audit_events, consents, deliveries
from outbound.testing.twilio import TwilioService, post_signed, status_callback
from outbound.testing.twilio import sign as loopback_sign
from tests.integration.helpers import NY, add_customer, count, shipping, trigger
from tests.providers.conftest import ACCOUNT, FROM, TOKEN, Running

Start = Callable[..., Running]


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def _ledger(app: bootstrap.App) -> list[tuple[Any, ...]]:
    with app.engine.begin() as conn:
        rows = conn.execute(select(consents.c.channel, consents.c.purpose, consents.c.action))
        return sorted((tuple(r) for r in rows), key=str)


def _send_one(running: Running, preference: str = "sms") -> int:
    cid = add_customer(running.app, "C1", NY, preference=preference)
    trigger(running.app, Kind.SHIPPING, cid, shipping("A1"))
    assert running.app.dispatcher().run_once() == 1
    return cid


def test_our_signature_is_the_one_the_official_validator_computes_and_accepts() -> None:
    url = "https://hooks.shop.example/v1/providers/twilio/status?x=1"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": NY, "Body": "a+b 退订"}
    validator = RequestValidator(TOKEN)
    assert signature(TOKEN, url, params) == validator.compute_signature(url, params)
    assert validator.validate(url, params, signature(TOKEN, url, params))


def test_the_loopback_signs_callbacks_as_the_official_validator_does() -> None:
    url = "http://127.0.0.1:8080/v1/providers/twilio/inbound"
    params = {"From": NY, "Body": "STOP", "OptOutType": "STOP", "MessageSid": "SM2"}
    assert RequestValidator(TOKEN).validate(url, params, loopback_sign(TOKEN, url, params))


def test_a_send_posts_the_documented_form_with_basic_auth_and_the_status_callback(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio)
    _send_one(running)
    (sent,) = twilio.sent
    assert sent.form["To"] == NY and sent.form["From"] == FROM
    assert sent.form["StatusCallback"] == running.url + "/v1/providers/twilio/status"
    assert "DHL" in sent.form["Body"]
    (row,) = _rows(running.app)
    assert (row.status, row.provider_ref) == ("sent", sent.sid)


def test_messaging_service_sid_is_sent_instead_of_from(start: Start, twilio: TwilioService) -> None:
    running = start(twilio, messaging_service_sid="MG" + "1" * 32)
    _send_one(running)
    (sent,) = twilio.sent
    assert sent.form["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in sent.form


def test_a_signed_delivered_callback_settles_the_delivery(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio)
    _send_one(running)
    assert status_callback(twilio.sent[0], "sent", TOKEN)[0] == 200
    assert _rows(running.app)[0].status == "sent"  # not final yet
    assert status_callback(twilio.sent[0], "delivered", TOKEN)[0] == 200
    (row,) = _rows(running.app)
    assert (row.status, row.outcome) == ("done", "delivered")


def test_an_undelivered_callback_moves_the_ladder_to_the_next_channel(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio)
    _send_one(running, preference="sms,voice")
    assert status_callback(twilio.sent[0], "undelivered", TOKEN, error_code="30003")[0] == 200
    rows = _rows(running.app)
    assert [(r.channel, r.outcome) for r in rows[:1]] == [("sms", "failed")]
    assert len(rows) == 2  # the next rung, planned for the next dispatch
    assert rows[0].detail["receipt"]["error"] == "30003"


def test_a_bad_signature_is_403_and_changes_nothing(start: Start, twilio: TwilioService) -> None:
    running = start(twilio)
    _send_one(running)
    audit_before = count(running.app, audit_events)
    params = {"MessageSid": twilio.sent[0].sid, "MessageStatus": "delivered"}
    status, _ = post_signed(running.status_url, TOKEN, params, bad=True)
    assert status == 403
    status, _ = post_signed(running.inbound_url, TOKEN, {"From": NY, "Body": "STOP"}, bad=True)
    assert status == 403
    assert _rows(running.app)[0].status == "sent"
    assert _ledger(running.app) == []
    assert count(running.app, audit_events) == audit_before


def test_an_inbound_stop_revokes_consent_and_replies_once_in_twiml(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio)
    add_customer(running.app, "C1", NY, preference="sms")
    status, twiml = post_signed(
        running.inbound_url, TOKEN, {"From": NY, "To": FROM, "Body": "Stop"}
    )
    assert status == 200 and "<Message>" in twiml and "unsubscribed" in twiml
    assert _ledger(running.app) == sorted(
        [("sms", None, "revoke"), (None, "marketing", "revoke")], key=str
    )
    _, again = post_signed(running.inbound_url, TOKEN, {"From": NY, "To": FROM, "Body": "STOP"})
    assert "<Message>" not in again  # one confirmation, not one per STOP
    assert len(_ledger(running.app)) == 2


def test_twilio_opt_out_type_stop_revokes_consent_without_a_reply(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio)
    add_customer(running.app, "C1", NY, preference="sms")
    form = {"From": NY, "To": FROM, "Body": "cancel", "OptOutType": "STOP"}
    status, twiml = post_signed(running.inbound_url, TOKEN, form)
    assert status == 200 and "<Message>" not in twiml
    assert _ledger(running.app) == sorted(
        [("sms", None, "revoke"), (None, "marketing", "revoke")], key=str
    )


def test_error_21610_opts_the_recipient_out_and_fails_the_send(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio)
    twilio.script(21610)
    _send_one(running)
    assert twilio.sent == []
    row = _rows(running.app)[0]
    assert (row.status, row.outcome) == ("done", "rejected")
    assert _ledger(running.app) == sorted(
        [("sms", None, "revoke"), (None, "marketing", "revoke")], key=str
    )


def test_error_21211_invalid_number_is_permanent(start: Start, twilio: TwilioService) -> None:
    running = start(twilio)
    twilio.script(21211)
    _send_one(running)
    row = _rows(running.app)[0]
    assert row.outcome == "rejected" and "invalid number" in str(row.detail)
    assert _ledger(running.app) == []


def test_throttling_halves_the_window_and_the_message_still_goes_once(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio, window=4)
    twilio.script(429, 20429)
    sms = running.app.channels()[Channel.SMS]
    accepted = sms.send(Message(1, Channel.SMS, Kind.SHIPPING, 1, NY, "en-US", "hello"))
    assert accepted.provider_refs == (twilio.sent[0].sid,)
    assert len(twilio.sent) == 1 and twilio.refused == 2
    window = sms.window.aimd  # type: ignore[attr-defined]
    assert window.halvings >= 1 and window.smallest <= 2


def test_wrong_credentials_are_refused_without_showing_the_token(
    start: Start, twilio: TwilioService
) -> None:
    running = start(twilio, auth_token="not-the-token")
    sms = running.app.channels()[Channel.SMS]
    assert sms.check().startswith("refused")  # type: ignore[attr-defined]
    results = sms.send_batch(  # type: ignore[attr-defined]
        [Message(1, Channel.SMS, Kind.SHIPPING, 1, NY, "en-US", "hello")]
    )
    assert "credentials refused" in str(results[0]) and "not-the-token" not in str(results[0])
    assert twilio.sent == []


def test_account_check_accepts_good_credentials(start: Start, twilio: TwilioService) -> None:
    running = start(twilio)
    assert running.app.channels()[Channel.SMS].check() == "accepted"  # type: ignore[attr-defined]
    assert ACCOUNT.startswith("AC")
