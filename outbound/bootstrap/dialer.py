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
import os
import signal
import socket
import sys
import threading
from datetime import datetime

from sqlalchemy import Connection, Engine

from outbound import bootstrap
from outbound.bootstrap.admission import build_admission, forget
from outbound.channels.throttle import Throttle
from outbound.channels.voice import SipVoice
from outbound.config import Settings, load_settings
from outbound.domain.errors import DatabaseUnavailable, OutboundError
from outbound.domain.masking import configure_logging
from outbound.domain.values import Channel, Kind, SendResult
from outbound.services.send.calls import apply_actions
from outbound.services.send.dispatch import Dispatcher
from outbound.store.outbox import Claimed
from outbound.store.throttle import DbTokenBucket
from outbound.voice.amd import AmdParams
from outbound.voice.asr import Recognizers
from outbound.voice.call import CallLimits
from outbound.voice.flow import flows_dir, load_kind
from outbound.voice.sip import SipConfig, SipEngine, media_priority
from outbound.voice.tts import Tts

log = logging.getLogger("outbound.bootstrap.dialer")
PACE_MAX_WAIT = 30.0  # a call waiting longer for the trunk's CPS token is retried later


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


def amd_params(settings: Settings) -> AmdParams | None:
    """``[voice] amd_*`` as the detector's parameters (None when ``amd = false``)."""
    v = settings.voice
    if not v.amd:
        return None
    return AmdParams(
        initial_silence_ms=v.amd_initial_silence_ms,
        greeting_ms=v.amd_greeting_ms,
        after_greeting_silence_ms=v.amd_after_greeting_silence_ms,
        total_analysis_ms=v.amd_total_analysis_ms,
        min_word_ms=v.amd_min_word_ms,
        between_words_silence_ms=v.amd_between_words_silence_ms,
        max_words=v.amd_max_words,
        max_word_ms=v.amd_max_word_ms,
        vad_mode=v.amd_vad_mode,
        beep_wait_ms=v.amd_beep_wait_ms,
        no_beep_silence_ms=v.amd_no_beep_silence_ms,
        min_beep_ms=v.amd_min_beep_ms,
    )


def build_channel(settings: Settings, engine: SipEngine, db: Engine | None = None) -> SipVoice:
    """The voice channel; with ``db``, new calls are paced by ``[voice] calls_per_second``
    through a token bucket row every dialer process shares."""
    v = settings.voice
    flows = {k: load_kind(k.value, flows_dir(v.flows_dir)) for k in Kind}
    limits = CallLimits(
        ring_timeout=v.ring_timeout_seconds,
        max_seconds=v.max_call_seconds,
        amd=amd_params(settings),
    )
    tts = Tts(v.tts_cache_dir, v.clock_rate, v.tts_engine)
    asr = Recognizers(v.asr_models())
    pace = None
    if db is not None:
        bucket = DbTokenBucket(db, f"voice:{v.trunk_uri or 'direct'}", v.calls_per_second)
        pace = Throttle(bucket, max_wait=PACE_MAX_WAIT)
    return SipVoice(engine, call_settings(settings), flows, tts, asr, limits, pace)


def run_dialer(settings: Settings, stop: threading.Event, until_idle: bool = False) -> None:
    media_priority(settings.voice.media_nice)  # before any thread: they inherit it
    app = bootstrap.build(settings)
    engine = SipEngine(sip_config(settings))
    channel = build_channel(settings, engine, app.engine)
    channel.asr.preload()  # a cold model must not load while a customer answers
    owner = f"{socket.gethostname()}:{os.getpid()}"
    gate = build_admission(settings, engine, app.engine, owner)
    poll = settings.worker.poll_seconds
    rules = app.rules

    def actions(conn: Connection, item: Claimed, result: SendResult, now: datetime) -> None:
        apply_actions(conn, item, result, rules=rules, now=now, actor="dialer")

    failures: list[OutboundError] = []

    def slot(worker: Dispatcher) -> None:
        try:
            worker.run(stop, poll, until_idle)
        except OutboundError as exc:  # DatabaseUnavailable with until_idle: one line, exit 5
            failures.append(exc)

    slots = []
    for i in range(sip_config(settings).max_calls):
        worker = app.dispatcher({Channel.VOICE: channel}, actor="dialer", after_result=actions)
        worker.batch = 1  # one call per slot
        worker.admit = gate.admit  # no new call while the media clock is late or CPU is short
        slots.append(threading.Thread(target=slot, args=(worker,), name=f"call-{i}"))
    for t in slots:
        t.start()
    try:
        while any(t.is_alive() for t in slots):
            if stop.is_set():
                engine.hangup_all()
            engine.poll(10)
            gate.tick()  # notes the media clock's writes (this thread runs pjsua2)
    finally:
        stop.set()
        engine.shutdown()
        gate.close()
        forget(app.engine, owner)
        app.close()
    if failures:
        raise failures[0]


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
    try:
        run_dialer(settings, stop, args.until_idle)
    except OutboundError as exc:
        print(f"error: dialer: {exc}", file=sys.stderr)
        sys.exit(5 if isinstance(exc, DatabaseUnavailable) else 1)


if __name__ == "__main__":
    main()
