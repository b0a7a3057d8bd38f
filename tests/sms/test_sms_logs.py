"""SMS at ``-vv``: the bind, submits, receipts and replies log no password, number or PDU dump.

smpplib logs every PDU it sends and reads as a hex dump at DEBUG (the bind carries the
password, submits carry the number); outbound keeps it at WARNING at any verbosity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.domain.values import Channel, Kind
from outbound.store.tables import deliveries
from tests.integration.helpers import NY, add_customer, shipping, trigger
from tests.logcheck import leaks, logs_at_debug
from tests.sms.conftest import PASSWORD, Smsc, eventually

AppFactory = Callable[..., bootstrap.App]


def _done(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        rows = conn.execute(select(deliveries.c.status)).all()
    return [r for r in rows if r.status == "done"]


def test_a_sent_and_receipted_sms_logs_no_password_number_or_pdu_at_vv(
    make_app: AppFactory, smsc: Smsc
) -> None:
    with logs_at_debug() as buffer:
        app = make_app(sms=smsc.settings())
        assert app.channels()[Channel.SMS].wait_bound(10)  # type: ignore[attr-defined]
        cid = add_customer(app, "C1", NY, preference="sms")
        trigger(app, Kind.SHIPPING, cid, shipping("A1"))
        assert app.dispatcher().run_once() == 1
        eventually(lambda: _done(app), what="the delivery receipt")
        smsc.command(cmd="mo", **{"from": NY.lstrip("+")}, text="HELP")
        eventually(lambda: smsc.events("message"), what="the HELP answer")
        assert logging.getLogger("outbound.sms").isEnabledFor(logging.DEBUG)  # as at -vv
    assert leaks(buffer.getvalue(), [PASSWORD, NY]) == []


@pytest.mark.leaks_logs
def test_smpplib_at_debug_would_dump_the_bind_password_in_hex(
    make_app: AppFactory, smsc: Smsc
) -> None:
    """Why smpplib is quiet: left at DEBUG it writes the bind PDU, password included."""
    with logs_at_debug() as buffer:
        logging.getLogger("smpp").setLevel(logging.DEBUG)
        app = make_app(sms=smsc.settings())
        assert app.channels()[Channel.SMS].wait_bound(10)  # type: ignore[attr-defined]
    assert any(PASSWORD.encode().hex() in line for line in leaks(buffer.getvalue(), [PASSWORD]))
