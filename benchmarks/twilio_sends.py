"""Sends/s through the Twilio adapter vs a plain asyncio client with the same window.

``python -m benchmarks.twilio_sends [--messages 400] [--window 10] [--delay-ms 100]`` — the
Twilio-shaped loopback Messages API (``outbound.testing.twilio``) runs in a child process and
answers every request ``--delay-ms`` late. In the same run, alternating:

* adapter — ``outbound.channels.twilio.TwilioSms.send_batch`` (batches of 50, as a dispatcher
  hands them over), with its AIMD window of ``--window`` and a token of the production
  ``DbTokenBucket`` (a row in a fresh SQLite file, rate high enough never to limit) per send;
* plain — aiohttp alone: one session, a semaphore of ``--window``, the same form POSTs with
  HTTP Basic, ``asyncio.gather`` over all messages.

The ratio adapter / plain is the figure (the goal is at least 0.8). Results go to
``benchmarks/results/twilio_sends.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import RESULTS_DIR, fresh_engine
from outbound.channels.base import Message
from outbound.channels.throttle import Throttle
from outbound.channels.twilio import TwilioSettings, TwilioSms
from outbound.domain.values import Accepted, Channel, Kind
from outbound.store.throttle import DbTokenBucket

ACCOUNT, TOKEN, FROM = "AC" + "0" * 32, "bench-token", "+15005550006"
TEXT = "Shop: your order A1234 is on its way with DHL (tracking T998877), arriving 2026-12-01."
BATCH = 50


def _serve(conn: Connection, delay: float) -> None:
    from outbound.testing.twilio import TwilioService

    service = TwilioService(ACCOUNT, TOKEN)
    service.loopback.delay = delay
    conn.send(service.url)
    conn.recv()  # until the parent says stop
    service.close()


def _messages(n: int) -> list[Message]:
    return [
        Message(i, Channel.SMS, Kind.SHIPPING, i, f"+1415555{i % 10_000:04d}", "en-US", TEXT)
        for i in range(1, n + 1)
    ]


def adapter_run(url: str, db: Path, n: int, window: int) -> float:
    bucket = DbTokenBucket(fresh_engine(db), key="twilio:bench", rate=1e6, burst=1e6)
    settings = TwilioSettings(ACCOUNT, TOKEN, FROM, api_base=url, window=window)
    sms = TwilioSms(settings, Throttle(bucket, max_wait=30.0))
    messages = _messages(n)
    try:
        sms.send_batch(messages[:window])  # connections and loop warmed up, as for plain
        t0 = time.perf_counter()
        results = []
        for i in range(0, n, BATCH):
            results += sms.send_batch(messages[i : i + BATCH])
        elapsed = time.perf_counter() - t0
    finally:
        sms.close()
    accepted = sum(isinstance(r, Accepted) for r in results)
    if accepted != n:
        raise RuntimeError(f"adapter: {accepted} of {n} accepted")
    return n / elapsed


async def _plain(url: str, n: int, window: int) -> float:
    auth = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    endpoint = f"{url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    gate = asyncio.Semaphore(window)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:

        async def one(m: Message) -> int:
            async with (
                gate,
                session.post(endpoint, data={"To": m.to, "From": FROM, "Body": m.text}) as resp,
            ):
                await resp.read()
                return resp.status

        await asyncio.gather(*(one(m) for m in _messages(window)))  # warm-up
        t0 = time.perf_counter()
        statuses = []
        messages = _messages(n)
        for i in range(0, n, BATCH):
            statuses += await asyncio.gather(*(one(m) for m in messages[i : i + BATCH]))
        elapsed = time.perf_counter() - t0
    if statuses.count(201) != n:
        raise RuntimeError(f"plain: {statuses.count(201)} of {n} accepted")
    return n / elapsed


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, args.delay_ms / 1000), daemon=True)
    server.start()
    try:
        url = parent.recv()
        adapter, plain = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                plain.append(asyncio.run(_plain(url, args.messages, args.window)))
                adapter.append(adapter_run(url, Path(tmp) / f"t{r}.db", args.messages, args.window))
    finally:
        parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    best_adapter, best_plain = max(adapter), max(plain)
    result = {
        "messages": args.messages,
        "window": args.window,
        "delay_ms": args.delay_ms,
        "adapter_sends_per_s": [round(x, 1) for x in adapter],
        "plain_sends_per_s": [round(x, 1) for x in plain],
        "ceiling_sends_per_s": round(args.window / (args.delay_ms / 1000), 1),
        "ratio_best": round(best_adapter / best_plain, 3),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "twilio_sends.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
