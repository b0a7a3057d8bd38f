"""Aliyun SMS (dysmsapi SendSms with approved templates), its SmsReport / SmsUp pushes on a URL
holding a secret token, against an Aliyun-shaped loopback server and the real API on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from outbound import bootstrap
from outbound.channels.aliyun import sign
from outbound.domain.values import Kind
from outbound.store.tables import audit_events, consents, deliveries
from outbound.testing.aliyun import AliyunService, push
from tests.conftest import FrozenClock
from tests.integration.helpers import SHANGHAI, add_customer, count, shipping, trigger
from tests.logcheck import leaks, logs_at_debug
from tests.providers.conftest import Running

KEY_ID, SECRET, TOKEN = "LTAI5tTestKeyId", "aliyun-access-secret-31cd", "cb-token-a1b2c3d4e5f6"
TEMPLATES = {
    "shipping.zh-CN": {"code": "SMS_900001", "params": ["order_id", "carrier", "tracking_no"]},
    "renewal": {"code": "SMS_900002", "params": []},
    "price_drop": {"code": "SMS_900003", "params": []},
}


@pytest.fixture(autouse=True)
def no_aliyun_secret_in_debug_logs() -> Iterator[None]:
    with logs_at_debug() as buffer:
        yield
    assert leaks(buffer.getvalue(), [SECRET, TOKEN]) == []


@pytest.fixture
def aliyun() -> Iterator[AliyunService]:
    service = AliyunService(KEY_ID, SECRET)
    yield service
    service.close()


def _start(
    launch: Callable[..., Running], service: AliyunService, clock: FrozenClock, **sms: Any
) -> Running:
    clock.current = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    return launch(
        sms={"adapter": "aliyun", **sms},
        aliyun={
            "access_key_id": KEY_ID,
            "access_key_secret": SECRET,
            "sign_name": "商店",
            "templates": TEMPLATES,
            "callback_token": TOKEN,
            "api_base": service.url,
            "throughput_per_second": 500.0,
        },
    )


def _rows(app: bootstrap.App) -> list[Any]:
    with app.engine.begin() as conn:
        return list(conn.execute(select(deliveries).order_by(deliveries.c.id)).all())


def _send_one(running: Running) -> None:
    cid = add_customer(running.app, "C1", SHANGHAI, preference="sms", locale="zh-CN")
    trigger(running.app, Kind.SHIPPING, cid, shipping("A1"))
    assert running.app.dispatcher().run_once() == 1


def test_signature_is_the_one_of_aliyuns_documented_example() -> None:
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert sign("testSecret", params, "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_a_send_uses_the_approved_template_and_a_report_settles_it(
    launch: Callable[..., Running], aliyun: AliyunService, clock: FrozenClock
) -> None:
    running = _start(launch, aliyun, clock)
    _send_one(running)
    (sent,) = aliyun.sent
    assert sent["PhoneNumbers"] == SHANGHAI.removeprefix("+86")
    assert (sent["SignName"], sent["TemplateCode"]) == ("商店", "SMS_900001")
    assert sent["TemplateParam"] == '{"order_id":"A1","carrier":"DHL","tracking_no":"T-A1"}'
    assert sent["OutId"] == "delivery-1"
    report = {"phone_number": sent["PhoneNumbers"], "success": True, "err_code": "DELIVERED"}
    url = f"{running.url}/v1/providers/aliyun/status?token={TOKEN}"
    assert push(url, [{**report, "biz_id": sent["BizId"], "out_id": "delivery-1"}]) == 200
    (row,) = _rows(running.app)
    assert (row.status, row.outcome, row.provider_ref) == ("done", "delivered", sent["BizId"])


def test_a_push_without_the_token_is_403_and_changes_nothing(
    launch: Callable[..., Running], aliyun: AliyunService, clock: FrozenClock
) -> None:
    running = _start(launch, aliyun, clock)
    _send_one(running)
    before = count(running.app, audit_events)
    report = [{"biz_id": aliyun.sent[0]["BizId"], "success": True}]
    assert push(f"{running.url}/v1/providers/aliyun/status", report) == 403
    assert push(f"{running.url}/v1/providers/aliyun/status?token=guess", report) == 403
    up = [{"phone_number": "13800138000", "content": "退订"}]
    assert push(f"{running.url}/v1/providers/aliyun/inbound?token=guess", up) == 403
    assert _rows(running.app)[0].status == "sent"
    assert count(running.app, audit_events) == before


def test_an_inbound_unsubscribe_word_revokes_consent(
    launch: Callable[..., Running], aliyun: AliyunService, clock: FrozenClock
) -> None:
    running = _start(launch, aliyun, clock)
    add_customer(running.app, "C1", SHANGHAI, preference="sms", locale="zh-CN")
    up = [{"phone_number": "13800138000", "content": "退订", "dest_code": "1234"}]
    assert push(f"{running.url}/v1/providers/aliyun/inbound?token={TOKEN}", up) == 200
    with running.app.engine.begin() as conn:
        ledger = conn.execute(select(consents.c.channel, consents.c.purpose, consents.c.action))
        rows = sorted((tuple(r) for r in ledger), key=str)
    assert rows == sorted([("sms", None, "revoke"), (None, "marketing", "revoke")], key=str)


def test_business_limit_control_halves_the_window_and_the_message_still_goes_once(
    launch: Callable[..., Running], aliyun: AliyunService, clock: FrozenClock
) -> None:
    running = _start(launch, aliyun, clock)
    aliyun.script("isv.BUSINESS_LIMIT_CONTROL")
    _send_one(running)
    assert len(aliyun.sent) == 1 and aliyun.refused == 1
    assert _rows(running.app)[0].provider_ref == aliyun.sent[0]["BizId"]


def test_an_illegal_number_is_permanent(
    launch: Callable[..., Running], aliyun: AliyunService, clock: FrozenClock
) -> None:
    running = _start(launch, aliyun, clock)
    aliyun.script("isv.MOBILE_NUMBER_ILLEGAL")
    _send_one(running)
    row = _rows(running.app)[0]
    assert row.outcome == "rejected" and "isv.MOBILE_NUMBER_ILLEGAL" in str(row.detail)


def test_routes_fail_over_from_refused_credentials_to_the_log_sink(
    launch: Callable[..., Running], aliyun: AliyunService, clock: FrozenClock
) -> None:
    running = _start(launch, aliyun, clock, routes={"86": ["aliyun", "log"], "default": ["log"]})
    aliyun.secret = "rotated-elsewhere"  # our signatures no longer match: SignatureDoesNotMatch
    _send_one(running)
    (row,) = _rows(running.app)
    assert (row.status, row.outcome) == ("done", "delivered") and aliyun.sent == []


def test_lint_refuses_a_kind_without_a_template(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    env.update(
        OUTBOUND_DATABASE_URL=f"sqlite:///{tmp_path / 'o.db'}",
        OUTBOUND_SMS_ADAPTER="aliyun",
        OUTBOUND_ALIYUN_TEMPLATES='{"shipping.zh-CN": {"code": "SMS_1", "params": []}}',
    )
    outbound = str(Path(sys.executable).with_name("outbound"))
    run = subprocess.run(
        [outbound, "providers", "lint"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert "no entry for kind 'renewal'" in run.stderr
    assert "no entry for kind 'price_drop'" in run.stderr
    assert "'shipping'" not in run.stderr and "Traceback" not in run.stderr
