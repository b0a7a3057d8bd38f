"""Push against a provider that answers in 100 ms: one outbound worker vs a plain asyncio client.

``python -m benchmarks.push_latency [--deliveries 3000] [--delay-ms 100] [--window 64]
[--clients]`` — see benchmarks/README.md ("Push and SMS windows").

The provider is ``outbound.testing.fcm_latency`` in its own process: FCM HTTP v1
``messages:send`` over TLS on 127.0.0.1 (HTTP/2 by ALPN, or HTTP/1.1), answering each request
``--delay-ms`` after it arrived. In one run, against that one server:

* **peer** — a plain asyncio client (aiohttp, HTTP/1.1 keep-alive, ``--window`` requests in
  flight through a semaphore) posting the same FCM messages; run before and after the worker,
  and the mean of the two is the figure the worker is compared with;
* **worker** — ``outbound serve --role worker --until-idle`` as its own process, with the
  repository's config/ (defaults: 2 worker threads, its batch size, ``[push] window``) and only
  the FCM settings pointed at the server, dispatching N due push deliveries from a SQLite file
  (N customers, each with an FCM token and ``push`` first, one renewal notice each);
* the same worker with ``[push] http2 = true`` (the window as HTTP/2 streams, httpx), and with
  push to the log sink (no provider: what the dispatcher itself allows, sends/s from
  ``log_sends.at``);
* the push adapter alone: ``send_batch`` from [worker] threads, [worker] batch_size messages
  each, no claim or record transactions;
* with ``--clients``, the client libraries that were weighed for the adapter (httpx over HTTP/2,
  httpx's async HTTP/1.1 pool, a thread pool over the sync httpx client), same window.

sends/s of every phase = the server's answered requests / (last answer − first request), as the
server measured them, so process start-up is left out; the worker's wall time is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from benchmarks.common import (
    CONFIG_DIR,
    RESULTS_DIR,
    ROOT,
    build_app,
    checkpoint,
    copy_db,
    fresh_engine,
    open_places,
    settings_for,
)
from benchmarks.fanout import CAMPAIGN
from outbound import bootstrap
from outbound.channels.base import BatchPort, Message
from outbound.domain.values import Channel, Kind, SendResult
from outbound.services.campaigns import runs as campaigns
from outbound.store.db import make_engine
from outbound.store.tables import customers, deliveries, log_sends, preferences, push_subscriptions
from outbound.testing.fcm_latency import LatencyFcm

TEXT = "Shop: your membership renews on 2026-12-08; renew at https://shop.example/renew?c=B1."
CHUNK = 5000


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _body(i: int) -> bytes:
    message = {
        "token": f"fcm-token-{i:08d}",
        "notification": {"title": "Shop", "body": TEXT},
        "data": {"delivery_id": str(i), "kind": "renewal"},
    }
    return json.dumps({"message": message}).encode()


def _phase(server: LatencyFcm, name: str, run: Callable[[], Any]) -> dict[str, Any]:
    """Run one phase and read the server's view of it (its counters are reset first)."""
    server.stats(reset=True)
    cpu0 = _cpu()
    t0 = time.monotonic()
    ok = run()
    wall = time.monotonic() - t0
    stats = server.stats()
    span = stats["last_answer"] - stats["first_request"] if stats["requests"] else 0.0
    return {
        "phase": name,
        "requests": stats["requests"],
        "ok": ok,
        "sends_per_second": round(stats["requests"] / span, 1) if span > 0 else None,
        "wall_seconds": round(wall, 3),
        "client_cpu_ms_per_request": round((_cpu() - cpu0) * 1000 / max(stats["requests"], 1), 3),
        "max_in_flight": stats["max_in_flight"],
        "max_streams_per_connection": stats["max_streams"],
        "connections": stats["connections"],
    }


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


# --- the peers and the weighed client libraries -----------------------------------------------


def aiohttp_peer(server: LatencyFcm, window: int, count: int) -> int:
    import aiohttp

    url = f"{server.url}/v1/projects/{server.project}/messages:send"
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    context = ssl.create_default_context(cafile=server.ca_file)

    async def main() -> int:
        connector = aiohttp.TCPConnector(limit=window, ssl=context)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> bool:
                async with session.post(url, data=_body(i), headers=headers) as resp:
                    await resp.read()
                    return resp.status == 200

            gate = asyncio.Semaphore(window)

            async def bounded(i: int) -> bool:
                async with gate:
                    return await one(i)

            return sum(await asyncio.gather(*(bounded(i) for i in range(count))))

    return asyncio.run(main())


def httpx_async(server: LatencyFcm, window: int, count: int, http2: bool) -> int:
    import httpx

    url = f"{server.url}/v1/projects/{server.project}/messages:send"
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    context = ssl.create_default_context(cafile=server.ca_file)

    async def main() -> int:
        limits = httpx.Limits(max_connections=window, max_keepalive_connections=window)
        async with httpx.AsyncClient(http2=http2, verify=context, limits=limits) as client:
            gate = asyncio.Semaphore(window)

            async def one(i: int) -> bool:
                async with gate:
                    resp = await client.post(url, content=_body(i), headers=headers)
                    return resp.status_code == 200

            return sum(await asyncio.gather(*(one(i) for i in range(count))))

    return asyncio.run(main())


def httpx_threads(server: LatencyFcm, window: int, count: int) -> int:
    import httpx

    url = f"{server.url}/v1/projects/{server.project}/messages:send"
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    context = ssl.create_default_context(cafile=server.ca_file)
    limits = httpx.Limits(max_connections=window, max_keepalive_connections=window)
    with httpx.Client(verify=context, limits=limits) as client, ThreadPoolExecutor(window) as pool:

        def one(i: int) -> bool:
            return client.post(url, content=_body(i), headers=headers).status_code == 200

        return sum(pool.map(one, range(count)))


# --- the worker -------------------------------------------------------------------------------


def prepare(path: Path, count: int, now: datetime) -> None:
    """``count`` customers, each with an FCM token and push ranked first; one renewal each."""
    engine = fresh_engine(path)
    places = open_places(now)
    today: date = now.date()
    for start in range(0, count, CHUNK):
        ids = range(start + 1, min(start + CHUNK, count) + 1)
        rows = [_customer(i, places[i % len(places)], today, now) for i in ids]
        with engine.begin() as conn:
            conn.execute(insert(customers), rows)
            conn.execute(
                insert(preferences), [{"customer_id": i, "rank": 1, "channel": "push"} for i in ids]
            )
            conn.execute(
                insert(push_subscriptions),
                [
                    {
                        "customer_id": i,
                        "kind": "fcm",
                        "endpoint": f"fcm-token-{i:08d}",
                        "keys": {},
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
    app = build_app(path, engine)
    with engine.begin() as conn:
        cid = campaigns.create(conn, CAMPAIGN, now=now, actor="bench")
    campaigns.run(engine, cid, replace(app.send_context(), clock=lambda: now), actor="bench")
    checkpoint(engine)


def _customer(i: int, place: Any, today: date, now: datetime) -> dict[str, Any]:
    return {
        "id": i,
        "external_id": f"B{i:08d}",
        "name": f"Bench Customer {i}",
        "locale": place.locale,
        "timezone": place.zone,
        "phone_e164": place.phones[i % len(place.phones)],
        "country": place.country,
        "membership_tier": "gold",
        "membership_expires_on": today + timedelta(days=1 + i % 13),
        "attributes": {},
        "created_at": now,
    }


def worker(server: LatencyFcm | None, path: Path, log: Path, **push: str) -> int:
    """``outbound serve --role worker --until-idle`` with only the FCM settings overridden
    (no server: the config's own log sink for push)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    env["PYTHONPATH"] = str(ROOT)
    if server is not None:
        settings = _push_settings(server) | push
        env |= {f"OUTBOUND_PUSH_{k.upper()}": v for k, v in settings.items()}
    argv = [sys.executable, "-m", "outbound", "--config-dir", str(CONFIG_DIR)]
    argv += ["--db", f"sqlite:///{path}", "serve", "--role", "worker", "--until-idle"]
    with log.open("wb") as out:
        subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=600)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        delivered = conn.execute(
            select(func.count()).select_from(deliveries).where(deliveries.c.outcome == "delivered")
        ).scalar_one()
    engine.dispose()
    return int(delivered)


def log_sink_rate(path: Path) -> dict[str, Any]:
    """The same worker with push to the log sink: what the dispatcher alone allows."""
    t0 = time.monotonic()
    delivered = worker(None, path, path.with_suffix(".log"))
    wall = time.monotonic() - t0
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(log_sends.c.at), func.max(log_sends.c.at))).one()
    engine.dispose()
    span = (last - first).total_seconds() if first is not None else 0.0
    return {
        "phase": "worker, log sink (no provider)",
        "requests": 0,
        "ok": delivered,
        "sends_per_second": round(delivered / span, 1) if span > 0 else None,
        "wall_seconds": round(wall, 3),
        "max_in_flight": "-",
        "connections": {},
    }


def adapter_only(
    server: LatencyFcm, path: Path, count: int, batch: int = 0, **push: str | bool
) -> int:
    """The push adapter alone: ``send_batch`` from [worker] threads, [worker] batch_size each,
    without the dispatcher's claim and record transactions (what bounds the worker otherwise)."""
    settings = settings_for(path).override({"push": {**_push_settings(server), **push}})
    app = bootstrap.build(settings)
    adapter = app.channels()[Channel.PUSH]
    assert isinstance(adapter, BatchPort)
    batch, threads = batch or settings.worker.batch_size, settings.worker.threads
    messages = [
        Message(i, Channel.PUSH, Kind.RENEWAL, i, f"fcm-token-{i:08d}", "en-US", TEXT)
        for i in range(1, count + 1)
    ]
    chunks = [messages[i : i + batch] for i in range(0, count, batch)]

    def share(k: int) -> int:
        done = 0
        for chunk in chunks[k::threads]:
            done += sum(isinstance(r, SendResult) for r in adapter.send_batch(chunk))
        return done

    try:
        with ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(share, range(threads)))
    finally:
        app.close()


def _push_settings(server: LatencyFcm) -> dict[str, Any]:
    return {
        "adapter": "real",
        "fcm_base_url": server.url,
        "fcm_project_id": server.project,
        "fcm_token_command": f"printf {server.token}",
        "ca_file": server.ca_file,
        "allow_loopback": "true",  # the loopback FCM server
    }


# --- the run ----------------------------------------------------------------------------------


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.push_latency", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=3000, help="push deliveries (3000)")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="provider delay (100)")
    parser.add_argument("--window", type=int, default=64, help="the peers' in-flight window (64)")
    parser.add_argument("--clients", action="store_true", help="also the weighed libraries")
    parser.add_argument(
        "--output", type=Path, default=RESULTS_DIR / "push_latency.json", help="JSON results"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    n, w = args.deliveries, args.window
    now = datetime.now(UTC).replace(microsecond=0)
    results: dict[str, Any] = {
        "when": now.isoformat(),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": list(os.getloadavg())},
        "params": {k: str(v) for k, v in vars(args).items()},
        "phases": [],
    }
    phases: list[dict[str, Any]] = results["phases"]
    with (
        tempfile.TemporaryDirectory(prefix="outbound-bench-push-") as tmp,
        LatencyFcm(args.delay_ms) as server,
    ):
        db, sink, h2 = (Path(tmp) / f"{name}.db" for name in ("push", "sink", "http2"))
        _say(f"push: preparing {n:,} due push deliveries …")
        prepare(db, n, now)
        copy_db(db, sink)
        copy_db(db, h2)
        _say("push: peer (aiohttp) …")
        phases.append(_phase(server, "peer aiohttp", lambda: aiohttp_peer(server, w, n)))
        _say("push: outbound worker process …")
        phases.append(
            _phase(server, "outbound worker", lambda: worker(server, db, Path(tmp) / "w.log"))
        )
        _say("push: peer (aiohttp) again …")
        phases.append(_phase(server, "peer aiohttp", lambda: aiohttp_peer(server, w, n)))
        _say("push: the worker over HTTP/2 ([push] http2 = true) …")
        phases.append(
            _phase(
                server,
                "worker, [push] http2=true",
                lambda: worker(server, h2, Path(tmp) / "h2.log", http2="true"),
            )
        )
        _say("push: the same worker with push to the log sink …")
        phases.append(log_sink_rate(sink))
        _say("push: the push adapter alone …")
        phases.append(
            _phase(server, "adapter send_batch only", lambda: adapter_only(server, db, n))
        )
        if args.clients:
            for name, run in (
                ("httpx async HTTP/2", lambda: httpx_async(server, w, n, True)),
                ("httpx async HTTP/1.1", lambda: httpx_async(server, w, min(n, 1000), False)),
                ("thread pool, sync httpx", lambda: httpx_threads(server, w, n)),
            ):
                _say(f"push: {name} …")
                phases.append(_phase(server, name, run))
    peers = [p["sends_per_second"] for p in phases if p["phase"] == "peer aiohttp"]
    peer = sum(peers) / len(peers)
    for p in phases:
        p["ratio_to_peer"] = (
            round(p["sends_per_second"] / peer, 3) if p["sends_per_second"] else None
        )
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(_report(results, n, args.delay_ms, w))
    return 0


def _report(results: dict[str, Any], n: int, delay: float, window: int) -> str:
    m = results["machine"]
    lines = [
        f"push vs a {delay:g} ms FCM-shaped server — {results['when']} — {m['cpus']} CPUs, load "
        f"{m['loadavg_start'][0]:.2f} → {m['loadavg_end'][0]:.2f}; {n:,} sends, window {window}",
        "  phase                     sends/s  ratio  wall s  max in flight  connections",
    ]
    for p in results["phases"]:
        lines.append(
            f"  {p['phase']:<24}  {p['sends_per_second'] or 0:>7,.0f}  {p['ratio_to_peer'] or 0:>5.2f}"
            f"  {p['wall_seconds']:>6.1f}  {p['max_in_flight']:>13}  {p['connections']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
