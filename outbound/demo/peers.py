"""The providers of ``outbound demo``: real protocol peers on loopback when they can run.

* SMS: the loopback SMSC (``outbound.testing.smsc``: outbound/testing/smsc_js/smsc.js on the npm ``smpp``
  server) when node and outbound/testing/smsc_js/node_modules are there, reached through the production SMPP
  adapter (``[sms] adapter = "smpp"``); it is told to answer some numbers with UNDELIV receipts.
  Otherwise the embedded log channel with scripted outcomes.
* Push: the loopback Web Push service (decrypts, checks VAPID) and FCM v1 server
  (``outbound.testing.peers``, pure Python) through the production push adapter
  (``[push] adapter = "real"``); some subscriptions answer 410 / UNREGISTERED (gone).
* Voice: live calls by the dialer process to loopback callees (``outbound.demo.calls``), or
  the log channel with scripted outcomes when pjsua2 cannot run.

``Providers.channels()`` is what the demo's dispatch workers send through.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outbound import bootstrap
from outbound.channels.base import ChannelPort, Message
from outbound.config import Settings
from outbound.domain.values import Channel, Outcome
from outbound.services.send import progress

SYSTEM_ID, PASSWORD = "demo", "demo123"  # SMPP passwords are at most 8 characters
PROJECT, ACCESS_TOKEN = "shop-demo", "ya29.demo-token"


def scripted_outcome(message: Message) -> Outcome:
    """Demo provider behaviour: a few SMS bounce, a few calls go unanswered."""
    if message.channel is Channel.SMS and bounces(message.customer_id):
        return Outcome.FAILED
    if message.channel is Channel.VOICE and message.customer_id % 2 == 0:
        return Outcome.NO_ANSWER
    return Outcome.ANSWERED if message.channel is Channel.VOICE else Outcome.DELIVERED


def bounces(customer_id: int) -> bool:
    """Whose SMS is undeliverable in the demo (scripted, or UNDELIV receipts from the SMSC)."""
    return customer_id % 7 in (1, 3)


def push_gone(n: int) -> bool:
    """Which demo customer's push subscription the push service calls gone (410 / UNREGISTERED)."""
    return n % 5 == 0


@dataclass
class Providers:
    """What the demo sends through, and one line saying so."""

    app: bootstrap.App
    description: str
    sms: Any = None  # outbound.testing.smsc.Smsc when the loopback SMSC runs
    webpush: Any = None  # outbound.testing.peers.WebPushService
    fcm: Any = None  # outbound.testing.peers.FcmService
    _peer_app: bootstrap.App | None = None
    _channels: dict[Channel, ChannelPort] = field(default_factory=dict)
    _opened: list[ChannelPort] = field(default_factory=list)

    @property
    def receipts(self) -> bool:
        """True when SMS outcomes arrive later, by delivery receipt."""
        return self.sms is not None

    def subscription(self, n: int) -> dict[str, Any] | None:
        """Demo customer ``n``'s push subscription on the loopback peers (None: a log token)."""
        if self.webpush is None:
            return None
        name = f"demo-{n:04d}"
        if n % 2 == 0:
            sub: dict[str, Any] = self.webpush.subscribe(name)
            if push_gone(n):
                from outbound.testing.peers import Reply

                self.webpush.scripted[name] = Reply(410)
            return sub
        token = f"fcm-token-{n:04d}"
        if push_gone(n):
            self.fcm.unregistered.add(token)
        return {"kind": "fcm", "endpoint": token}

    def script(self, customers: list[tuple[int, str]]) -> None:
        """Tell the SMSC which numbers get UNDELIV receipts: (customer id, E.164 phone)."""
        if self.sms is None:
            return
        for cid, phone in customers:
            if bounces(cid):
                self.sms.command(cmd="receipt", dest=phone.lstrip("+"), stat="UNDELIV")

    def channels(self) -> dict[Channel, ChannelPort]:
        if not self._channels:
            chosen = self.app.log_channels(scripted_outcome)
            if self._peer_app is not None:
                real = self._peer_app.channels()  # starts the SMPP session (bind)
                self._opened += [real[c] for c in (Channel.SMS, Channel.PUSH)]
                if self.webpush is not None:
                    chosen[Channel.PUSH] = real[Channel.PUSH]
                if self.sms is not None:
                    chosen[Channel.SMS] = real[Channel.SMS]
                    if not real[Channel.SMS].wait_bound(10):  # type: ignore[attr-defined]
                        raise RuntimeError("the loopback SMSC did not accept the SMPP bind")
            self._channels = chosen
        return self._channels

    def close(self) -> None:
        """Close the real adapters (unbind from the SMSC, the HTTP client)."""
        while self._opened:
            self._opened.pop().close()


def _settings(app: bootstrap.App, sms: dict[str, Any], push: dict[str, Any]) -> Settings:
    return app.settings.override({"sms": sms, "push": push}, origin="demo peers")


@contextlib.contextmanager
def open_providers(app: bootstrap.App, use_peers: bool = True) -> Iterator[Providers]:
    """Start the loopback peers that can run (all stopped on exit) and wire adapters to them."""
    if not use_peers:
        yield Providers(app, "providers: log channel with scripted outcomes (--log-channel)")
        return
    with contextlib.ExitStack() as stack:
        say_sms, sms_settings, smsc = _start_smsc(stack)
        push_settings: dict[str, Any] = {}
        webpush = fcm = None
        try:
            webpush, fcm, push_settings = _start_push(stack)
            say_push = "push via Web Push/FCM test peers on loopback"
        except Exception as exc:  # e.g. a missing optional crypto module: fall back, say so
            say_push = f"push: log channel ({type(exc).__name__}: {exc})"
        peer_app = None
        if smsc is not None or webpush is not None:
            settings = _settings(app, sms_settings, push_settings)
            peer_app = bootstrap.build(
                settings, clock=app.clock, engine=app.engine, check_schema=False
            )
        description = f"providers: {say_sms}; {say_push}"
        providers = Providers(app, description, smsc, webpush, fcm, peer_app)
        stack.callback(providers.close)  # before the peers stop (callbacks run last first)
        yield providers


def _start_smsc(stack: contextlib.ExitStack) -> tuple[str, dict[str, Any], Any]:
    from outbound.testing import smsc as loopback

    missing = loopback.unavailable()
    if missing:
        return f"SMS: log channel ({missing})", {}, None
    try:
        server = loopback.Smsc(SYSTEM_ID, PASSWORD, keep_events=False)
    except (OSError, TimeoutError) as exc:
        return f"SMS: log channel (the loopback SMSC did not start: {exc})", {}, None
    stack.callback(server.close)
    settings = {
        "adapter": "smpp",
        "host": "127.0.0.1",
        "port": server.port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "throughput_per_second": 100.0,
        "burst": 10.0,
        "enquire_link_seconds": 5.0,
        "response_timeout_seconds": 5.0,
        "reconnect_max_seconds": 1.0,
    }
    where = f"SMS via SMPP to the loopback SMSC (npm smpp) on 127.0.0.1:{server.port}"
    return where, settings, server


def _start_push(stack: contextlib.ExitStack) -> tuple[Any, Any, dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    from outbound.testing.peers import FcmService, WebPushService

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="outbound-demo-")))
    vapid = Vapid()
    vapid.generate_keys()
    key_file = folder / "vapid_private.pem"
    vapid.save_key(str(key_file))
    public = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    webpush = WebPushService(public)
    stack.callback(webpush.close)
    fcm = FcmService(PROJECT, ACCESS_TOKEN)
    stack.callback(fcm.close)
    settings = {
        "adapter": "real",
        "vapid_private_key_file": str(key_file),
        "vapid_subject": "mailto:support@shop.example",
        "fcm_base_url": fcm.http.url,
        "allow_loopback": True,  # the loopback peers: http:// on 127.0.0.1
        "fcm_project_id": PROJECT,
        "fcm_token_command": f"printf {ACCESS_TOKEN}",
        "timeout_seconds": 5.0,
    }
    return webpush, fcm, settings


def await_receipts(app: bootstrap.App, deadline: float) -> bool:
    """Wait until no SMS awaits its receipt; True when that left new work due now."""
    while time.monotonic() < deadline:
        with app.engine.begin() as conn:
            waiting = progress.receipts_pending(conn)
        if not waiting:
            break
        time.sleep(0.05)
    with app.engine.begin() as conn:
        return progress.work_due(conn, app.clock())
