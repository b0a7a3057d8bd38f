"""A dialer process: one SIP engine, up to 4 calls in flight, voice deliveries only.

The main thread polls pjsua2; each call slot is a thread running a Dispatcher that
claims one voice delivery at a time (``serves={VOICE}``), places the call and records the
outcome — with the in-call opt-out or SMS-link follow-up in the same transaction. SIGTERM hangs
up every call, records what happened and shuts the library down cleanly.

Run: ``python -m outbound.bootstrap.dialer [--db URL] [--config-dir DIR] [--until-idle]``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import datetime

from sqlalchemy import Connection

from outbound import bootstrap
from outbound.channels.voice import SipVoice
from outbound.config import Settings, load_settings
from outbound.domain.masking import configure_logging
from outbound.domain.values import Channel, Kind, SendResult
from outbound.services.calls import apply_actions
from outbound.store.outbox import Claimed
from outbound.voice.asr import Recognizers
from outbound.voice.call import CallLimits
from outbound.voice.flow import flows_dir, load_kind
from outbound.voice.sip import SipConfig, SipEngine
from outbound.voice.tts import Tts

log = logging.getLogger("outbound.bootstrap.dialer")


def sip_config(settings: Settings) -> SipConfig:
    """The SIP endpoint of ``[voice]``; at most 4 calls per dialer (pjsua2's conference cap)."""
    v = settings.voice
    return SipConfig(
        caller_id=v.caller_id,
        bind_address=v.bind_address,
        public_address=v.public_address,
        sip_port=v.sip_port,
        rtp_port=v.rtp_port,
        sip_user=v.sip_user,
        sip_password=v.sip_password.get_secret_value(),
        clock_rate=v.clock_rate,
        max_calls=min(v.calls_per_dialer, 4),
    )


def call_settings(settings: Settings) -> dict[str, str]:
    """What ``SipVoice`` reads per call: the trunk, the one brand, callback number, agent."""
    v = settings.voice
    return {
        "trunk_uri": v.trunk_uri,
        "brand": settings.brand.name,
        "callback_number": v.callback_number,
        "agent_uri": v.agent_uri,
    }


def build_channel(settings: Settings, engine: SipEngine) -> SipVoice:
    v = settings.voice
    flows = {k: load_kind(k.value, flows_dir(v.flows_dir)) for k in Kind}
    limits = CallLimits(
        ring_timeout=v.ring_timeout_seconds,
        max_seconds=v.max_call_seconds,
        machine_seconds=v.machine_seconds,
    )
    tts = Tts(v.tts_cache_dir, v.clock_rate, v.tts_engine)
    asr = Recognizers(v.asr_models())
    return SipVoice(engine, call_settings(settings), flows, tts, asr, limits)


def run_dialer(settings: Settings, stop: threading.Event, until_idle: bool = False) -> None:
    app = bootstrap.build(settings)
    engine = SipEngine(sip_config(settings))
    channel = build_channel(settings, engine)
    channel.asr.preload()  # a cold model must not load while a customer answers
    poll = settings.worker.poll_seconds
    rules = app.rules

    def actions(conn: Connection, item: Claimed, result: SendResult, now: datetime) -> None:
        apply_actions(conn, item, result, rules=rules, now=now, actor="dialer")

    slots = []
    for i in range(sip_config(settings).max_calls):
        worker = app.dispatcher({Channel.VOICE: channel}, actor="dialer", after_result=actions)
        worker.batch = 1  # one call per slot
        slots.append(
            threading.Thread(target=worker.run, args=(stop, poll, until_idle), name=f"call-{i}")
        )
    for t in slots:
        t.start()
    try:
        while any(t.is_alive() for t in slots):
            if stop.is_set():
                engine.hangup_all()
            engine.poll(10)
    finally:
        stop.set()
        engine.shutdown()
        app.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="outbound voice dialer process")
    parser.add_argument("--db", help="database URL")
    parser.add_argument("--config-dir", help="directory with outbound.toml and policies.toml")
    parser.add_argument("--until-idle", action="store_true", help="exit when nothing is due")
    args = parser.parse_args(argv)
    configure_logging(logging.WARNING)
    settings = load_settings(args.config_dir, {"database": {"url": args.db}} if args.db else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_dialer(settings, stop, args.until_idle)


if __name__ == "__main__":
    main()
