"""Status webhooks to a receiver answering in 50 ms: the delivery worker vs a plain asyncio client.

``python -m benchmarks.status_webhooks [--messages 2000] [--delay-ms 50] [--window 16]``

The receiver is an aiohttp server in its own process on 127.0.0.1 that answers every POST
``--delay-ms`` after it arrived. In one run, against that one server:

* **peer** — a plain asyncio client (aiohttp, keep-alive, ``--window`` requests in flight through
  a semaphore) posting the same signed bodies, with no database; run before and after the
  worker, and the mean of the two is the figure the worker is compared with;
* **worker** — ``outbound``'s delivery worker as ``serve`` starts it (its own thread and event
  loop, ``[endpoints] concurrency`` = ``--window``), taking N due outbox messages from a SQLite
  file with leases and recording each attempt.

deliveries/s = the receiver's answered requests / (last answer - first request), as the receiver
measured them (start-up left out, as in ``push_latency``); the worker's wall rate (from its start
until the last one is recorded delivered) is reported beside it.
Target: the worker at ≥ 0.8 of the peer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from benchmarks.common import RESULTS_DIR, build_app, fresh_engine
from outbound.services.endpoints import manage
from outbound.services.endpoints.events import new_webhook_id
from outbound.services.endpoints.worker import signature
from outbound.store import endpoints as store
from outbound.store.tables import endpoint_messages


def _receiver(port_out: multiprocessing.Queue, delay: float) -> None:  # type: ignore[type-arg]
    seen = {"n": 0, "first": 0.0, "last": 0.0}

    async def hook(request: web.Request) -> web.Response:
        if not seen["first"]:
            seen["first"] = time.perf_counter()
        await request.read()
        await asyncio.sleep(delay)
        seen["n"] += 1
        seen["last"] = time.perf_counter()
        return web.Response(text='{"ok":true}', content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        rate = seen["n"] / (seen["last"] - seen["first"]) if seen["n"] else 0.0
        seen.update(n=0, first=0.0, last=0.0)
        return web.json_response({"rate": rate})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hooks", hook)
        app.router.add_post("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def _body(i: int) -> str:
    data = {"notification_id": i, "customer": {"external_id": f"C{i}"}, "order_id": f"A{i}"}
    now = datetime.now(UTC).isoformat()
    return json.dumps({"type": "notification.delivered", "timestamp": now, "data": data})


async def _peer(url: str, secret: str, n: int, window: int) -> float:
    gate = asyncio.Semaphore(window)
    connector = aiohttp.TCPConnector(limit=window)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            async with gate:
                wid, body = new_webhook_id(), _body(i)
                at = datetime.fromtimestamp(int(time.time()), tz=UTC)
                headers = {
                    "content-type": "application/json",
                    "webhook-id": wid,
                    "webhook-timestamp": str(int(at.timestamp())),
                    "webhook-signature": signature((secret,), wid, at, body),
                }
                async with session.post(url, data=body.encode(), headers=headers) as r:
                    await r.read()
                    assert r.status == 200

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


def _worker(url: str, n: int, window: int, db: Path) -> float:
    engine = fresh_engine(db)
    app = build_app(db, engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        manage.add(conn, "bench", url, ["notification.delivered"], include_phone=False,
                   now=now, actor="bench")  # fmt: skip
        (endpoint,) = store.all_endpoints(conn)
        messages = [
            store.NewMessage(endpoint.id, new_webhook_id(), "notification.delivered", i, _body(i))
            for i in range(n)
        ]
        store.insert_messages(conn, messages, now)
    settings = app.settings.endpoints.model_copy(update={"concurrency": window})
    worker = type(app.webhook_worker())(engine, settings)
    stop = threading.Event()
    delivered = select(func.count()).where(endpoint_messages.c.status == "delivered")
    started = time.perf_counter()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        while True:
            with engine.connect() as conn:
                if conn.execute(delivered).scalar_one() >= n:
                    break
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        thread.join(60)
        app.close()
    return n / elapsed


def _server_rate(url: str) -> float:
    """Answered requests / (last answer - first request) as the receiver saw them; resets."""

    async def ask() -> float:
        stats = url.replace("/hooks", "/stats")
        async with aiohttp.ClientSession() as session, session.post(stats) as r:
            return float((await r.json())["rate"])

    return asyncio.run(ask())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--window", type=int, default=16)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=_receiver, args=(ports, args.delay_ms / 1000))
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}/hooks"
        secret = manage.new_secret()
        _server_rate(url)
        asyncio.run(_peer(url, secret, args.messages, args.window))
        before = _server_rate(url)
        with tempfile.TemporaryDirectory() as tmp:
            wall = _worker(url, args.messages, args.window, Path(tmp) / "bench.db")
        worker = _server_rate(url)
        asyncio.run(_peer(url, secret, args.messages, args.window))
        after = _server_rate(url)
    finally:
        server.terminate()
        server.join(10)
    peer = (before + after) / 2
    ideal = args.window / (args.delay_ms / 1000)
    result = {
        "messages": args.messages,
        "delay_ms": args.delay_ms,
        "window": args.window,
        "ideal_per_s": round(ideal, 1),
        "peer_per_s": round(peer, 1),
        "peer_before_after": [round(before, 1), round(after, 1)],
        "worker_per_s": round(worker, 1),
        "worker_wall_per_s": round(wall, 1),  # from its start until all recorded delivered
        "worker_vs_peer": round(worker / peer, 3),
    }
    print(json.dumps(result, indent=1))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "status_webhooks.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
