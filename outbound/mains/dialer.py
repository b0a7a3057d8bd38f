"""A dialer process: one SIP engine, up to 4 calls in flight, voice deliveries only.

The main thread polls pjsua2; each call slot is a thread running a Dispatcher that
claims one voice delivery at a time (``serves={VOICE}``), places the call and records the
outcome — with the in-call opt-out or SMS-link follow-up in the same transaction. SIGTERM hangs
up every call, records what happened and shuts the library down cleanly.

Run: ``python -m outbound.mains.dialer [--db URL] [--config-dir DIR] [--until-idle]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading

from outbound import bootstrap
from outbound.bootstrap.admission import build_admission, forget
from outbound.bootstrap.voice import (
    build_channel,
    call_actions,
    registration_reporter,
    sip_config,
)
from outbound.config import Settings, load_settings
from outbound.domain.errors import DatabaseUnavailable, OutboundError
from outbound.domain.masking import configure_logging
from outbound.domain.values import Channel
from outbound.services.send.dispatch import Dispatcher
from outbound.voice.sip import SipEngine
from outbound.voice.sip_setup import media_priority

log = logging.getLogger("outbound.mains.dialer")


def run_dialer(settings: Settings, stop: threading.Event, until_idle: bool = False) -> None:
    media_priority(settings.voice.media_nice)  # before any thread: they inherit it
    app = bootstrap.build(settings)
    engine = SipEngine(sip_config(settings), registration_reporter(app.engine, app.clock))
    channel = build_channel(settings, engine, app.engine)
    channel.asr.preload()  # a cold model must not load while a customer answers
    owner = f"{socket.gethostname()}:{os.getpid()}"
    gate = build_admission(settings, engine, app.engine, owner)
    poll = settings.worker.poll_seconds
    actions = call_actions(app.rules)
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
