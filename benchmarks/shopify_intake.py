"""Shopify intake vs the standard ``/v1/events`` intake, same server, same run.

``python -m benchmarks.shopify_intake [--duration 8] [--connections 16] [--customers 200]``
(also ``python -m benchmarks.run --only shopify``).

The server is the real thing: a subprocess ``outbound serve --role api`` on a SQLite file set up
through the CLI (``db upgrade``, a standard source, a Shopify source whose client secret is
piped to ``source add --kind shopify --secret-stdin``, ``customer import``). Before the clock
starts the Shopify customers and orders are posted (``orders/create``: the order map) and every
request is built and signed. Then three closed-loop phases of ``--duration`` each, on the same
connections, each request a new shipping notification:

* **standard** — signed ``shipping.dispatched`` events to ``/v1/events`` (Standard Webhooks);
* **shopify** — ``fulfillments/create`` (a new fulfillment id each) to
  ``/v1/integrations/shopify/NAME``, signed ``X-Shopify-Hmac-SHA256``: HMAC check, the order
  map lookup, the mapping, the same notify path;
* **standard** again; the peer figure is the mean of the two standard phases.

Afterwards the database is read: notifications == accepted answers of both kinds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks import api_load
from benchmarks.common import RESULTS_DIR
from outbound.services.integrations.signatures import sign
from outbound.store.db import make_engine
from outbound.store.tables import notifications

NAME = "bench-shop"
SHOPIFY_SECRET = "shpss_" + "5" * 32


@dataclass
class IntakeResult:
    duration: float
    connections: int
    standard_rps: list[float] = field(default_factory=list)
    shopify_rps: float = 0.0
    shopify_statuses: dict[int, int] = field(default_factory=dict)
    standard_statuses: dict[int, int] = field(default_factory=dict)
    shopify_p99_ms: float = 0.0
    standard_p99_ms: float = 0.0
    accepted: int = 0
    notifications: int = 0

    @property
    def ratio(self) -> float:
        peer = sum(self.standard_rps) / len(self.standard_rps) if self.standard_rps else 0.0
        return self.shopify_rps / peer if peer else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


def _add_shop(url: str) -> None:
    args = ("source", "add", NAME, "--kind", "shopify", "--secret-stdin", "--rate", "100000")
    shop = ("--currency", "USD", "--shop-url", "https://shop.example")
    done = subprocess.run(
        [str(api_load.OUTBOUND), "--db", url, *args, *shop],
        input=SHOPIFY_SECRET,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"source add --kind shopify failed: {done.stderr}")


def _shopify_request(port: int, topic: str, body: dict[str, Any]) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST /v1/integrations/shopify/{NAME} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n"
        f"x-shopify-topic: {topic}\r\nx-shopify-hmac-sha256: {sign(SHOPIFY_SECRET, raw)}\r\n"
        f"x-shopify-webhook-id: {uuid.uuid4()}\r\n\r\n"
    )
    return head.encode() + raw


def _orders(port: int, customers: int) -> list[bytes]:
    """One order per customer (with the customer embedded, as Shopify sends it)."""
    out = []
    for i in range(customers):
        phone = f"+1415555{i % 10000:04d}"
        customer = {"id": 9000 + i, "first_name": "Load", "last_name": str(i), "phone": phone}
        customer["default_address"] = {"country_code": "US", "province_code": "CA"}
        order = {"id": 5000 + i, "name": f"#{5000 + i}", "customer": customer, "line_items": []}
        out.append(_shopify_request(port, "orders/create", order))
    return out


def _fulfillments(port: int, customers: int, count: int) -> list[bytes]:
    run = uuid.uuid4().int % 10**6
    return [
        _shopify_request(
            port,
            "fulfillments/create",
            {
                "id": run * 10**7 + i,
                "order_id": 5000 + i % customers,
                "status": "success",
                "tracking_company": "UPS",
                "tracking_number": f"1Z{run}{i:07d}",
                "tracking_numbers": [f"1Z{run}{i:07d}"],
                "tracking_url": None,
                "name": f"#{5000 + i % customers}.{i}",
            },
        )
        for i in range(count)
    ]


def _phase(
    port: int, requests: list[bytes], connections: int, seconds: float
) -> tuple[api_load.Tally, float]:
    return asyncio.run(api_load.closed_loop(port, requests, connections, seconds))


def run(
    workdir: Path, duration: float, connections: int, customers: int, say: Any = print
) -> IntakeResult:
    url, secret, ids = api_load.prepare(workdir, customers)
    _add_shop(url)
    port = api_load._free_port()
    proc = api_load.start_server(url, port, workdir / "serve.log")
    result = IntakeResult(duration, connections)
    try:
        say(f"shopify intake: {customers} orders posted first (the order map) …")
        tally, _ = _phase(port, _orders(port, customers), connections, 600)
        if set(tally.statuses) != {200}:
            raise RuntimeError(f"orders/create answered {dict(tally.statuses)}")
        enough = 4000 * int(duration + 1)
        for name in ("standard", "shopify", "standard"):
            if name == "standard":
                requests = api_load.build_requests(secret, ids, enough, port)
            else:
                requests = _fulfillments(port, customers, enough)
            say(f"shopify intake: {name} phase, {duration:g} s, {connections} connections …")
            tally, seconds = _phase(port, requests, connections, duration)
            rps = len(tally.latencies) / seconds if seconds else 0.0
            p99 = api_load.percentile([v * 1000 for v in tally.latencies], 99)
            accepted = tally.statuses.get(202 if name == "standard" else 200, 0)
            result.accepted += accepted
            if name == "standard":
                result.standard_rps.append(round(rps, 1))
                result.standard_statuses = dict(tally.statuses)
                result.standard_p99_ms = round(p99, 2)
            else:
                result.shopify_rps = round(rps, 1)
                result.shopify_statuses = dict(tally.statuses)
                result.shopify_p99_ms = round(p99, 2)
    finally:
        api_load.stop_server(proc)
    engine = make_engine(url)
    with engine.begin() as conn:
        result.notifications = int(
            conn.execute(select(func.count()).select_from(notifications)).scalar_one()
        )
    engine.dispose()
    return result


def report(r: IntakeResult) -> str:
    peer = sum(r.standard_rps) / len(r.standard_rps) if r.standard_rps else 0.0
    return "\n".join(
        [
            f"Shopify intake vs /v1/events (same server, {r.connections} connections, "
            f"{r.duration:g} s per phase)",
            f"  standard /v1/events:      {', '.join(f'{x:,.0f}' for x in r.standard_rps)} events/s"
            f" (mean {peer:,.0f}), p99 {r.standard_p99_ms} ms, {r.standard_statuses}",
            f"  shopify fulfillments/create: {r.shopify_rps:,.0f} events/s, p99 "
            f"{r.shopify_p99_ms} ms, {r.shopify_statuses}",
            f"  shopify / standard = {r.ratio:.3f}",
            f"  notifications committed {r.notifications:,} == accepted {r.accepted:,}: "
            f"{r.notifications == r.accepted}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shopify_intake")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outbound-shopify-") as tmp:
        started = time.monotonic()
        result = run(Path(tmp), args.duration, args.connections, args.customers)
    print(report(result))
    out = RESULTS_DIR / "shopify_intake.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    print(f"({time.monotonic() - started:.0f} s; results written to {out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
