"""Push at ``-vv``: Web Push and FCM sends, a gone subscription and its removal log no
endpoint token, registration token, access token, VAPID JWT or phone number."""

from __future__ import annotations

import logging
from collections.abc import Callable

from outbound import bootstrap
from outbound.domain.values import Kind
from tests.integration.helpers import NY, add_customer, shipping, trigger
from tests.logcheck import leaks, logs_at_debug
from tests.push.conftest import ACCESS_TOKEN
from tests.push.peers import FcmService, Reply, WebPushService

AppFactory = Callable[..., bootstrap.App]
#: capability tokens as long as real ones (a short name would slip past a length-based mask)
ENDPOINT_TOKEN = "gAAAAABkZ3h0bG9uZ3JhbmRvbQ-dGhpc2lzYWxvbmdlbmRwb2ludA"
GONE_TOKEN = "gAAAAABnb25lc3Vic2NyaXB0aW9u-Z29uZXN1YnNjcmlwdGlvbg"
FCM_TOKEN = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"


def test_web_push_and_fcm_sends_and_a_gone_subscription_log_no_token_at_vv(
    push_app: AppFactory, webpush_service: WebPushService, fcm_service: FcmService
) -> None:
    phones = {"C1": NY, "C2": "+14155550123", "C3": "+13125550123"}
    gone = webpush_service.subscribe(GONE_TOKEN)
    webpush_service.scripted[GONE_TOKEN] = Reply(410, b"push subscription has expired")
    subscriptions = {
        "C1": webpush_service.subscribe(ENDPOINT_TOKEN),
        "C2": gone,
        "C3": {"kind": "fcm", "endpoint": FCM_TOKEN},
    }
    with logs_at_debug() as buffer:
        app = push_app()
        for ext, sub in subscriptions.items():
            cid = add_customer(app, ext, phones[ext], preference="push", push_subscriptions=[sub])
            trigger(app, Kind.SHIPPING, cid, shipping(f"A-{ext}"))
        assert app.dispatcher().run_once() == 3
        assert len(webpush_service.pushed) == 1 and len(fcm_service.sent) == 1
        assert logging.getLogger("outbound.push").isEnabledFor(logging.DEBUG)  # as at -vv
    text = buffer.getvalue()
    assert "410" in text  # the removal was logged, masked
    assert (
        leaks(text, [ENDPOINT_TOKEN, GONE_TOKEN, FCM_TOKEN, ACCESS_TOKEN, *phones.values()]) == []
    )
