"""Benchmark: sustained signed ``shipping.dispatched`` webhooks against ``outbound serve``.

``python -m benchmarks.api_load [--duration 20] [--connections 32] [--rate half] [--profile]
[--postgres] [--workers N]``

The server is the real thing, a subprocess ``outbound --db … serve --role api [--workers N]``
(SQLite, or with ``--postgres`` a throwaway PostgreSQL cluster started for the run), set up
through the CLI only: ``db upgrade``, ``source add`` (the secret is read from its output) and
``customer import`` of a generated CSV. The load generator runs on loopback in this process:
every request (a unique ``order_id``, so each is a new notification; a unique ``webhook-id``;
a Standard Webhooks signature over the exact body) is built and signed before the clock starts,
and is sent over keep-alive HTTP/1.1 connections by a small asyncio client that writes the
prepared bytes and reads status line, headers and body — so the client costs little CPU next
to the server it measures.

Three phases, each bounded by ``--duration``:

0. the peer: ``GET /healthz`` in a closed loop on the same connections count, same server, same
   run — what the HTTP stack alone sustains here.
1. closed loop: ``--connections`` connections each send the next request as soon as the
   previous answer arrived — the most the server sustains; latency = send → full answer.
2. open loop (``--rate``: ``half`` of the closed loop's rate by default, a number, or 0 to
   skip): requests are released at a fixed rate whatever the server does, latency counted
   from each request's scheduled release (no coordinated omission), so queueing shows up in
   the percentiles.

Afterwards the server is stopped and the database is read: every 202 must be a committed
notification (``notifications`` rows == 202 answers, ``webhook_receipts`` rows likewise).
``--profile`` samples the server (every process) with py-spy during phase 1 and prints where
its time goes. Targets from issue 9: ingest ≥ 0.6 × ``/healthz`` of the same server in the same
run, and p99 < 50 ms in the open loop at half that rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from benchmarks.common import RESULTS_DIR, percentile, valid_phones
from outbound.api.signing import sign
from outbound.store.db import make_engine
from outbound.store.tables import notifications, webhook_receipts

TARGET_RATIO = 0.6  # ingest req/s ÷ /healthz req/s, same server, same run
TARGET_P99_MS = 50.0
OUTBOUND = Path(sys.executable).with_name("outbound")
#: (region, IANA zone, locale) of the imported customers; phones are valid for the region.
REGIONS = (
    ("US", "America/New_York", "en-US"),
    ("DE", "Europe/Berlin", "de-DE"),
    ("GB", "Europe/London", "en-GB"),
    ("JP", "Asia/Tokyo", "ja-JP"),
)
SECRET = re.compile(r"^whsec_\S+$", re.MULTILINE)


@dataclass
class Phase:
    name: str
    connections: int
    offered_rps: float | None  # open loop only
    seconds: float
    sent: int
    statuses: dict[int, int]
    errors: int
    unsent: int  # open loop: released but never sent before the phase ended (server too slow)
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class LoadResult:
    customers: int
    database: str = "sqlite"
    workers: int = 1
    phases: list[Phase] = field(default_factory=list)
    accepted: int = 0
    notifications: int = 0
    receipts: int = 0
    durable: bool = False
    profile: list[tuple[str, float, float]] = field(default_factory=list)
    profile_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- set-up through the CLI ------------------------------------------------------------------


def _cli(db_url: str, *args: str) -> str:
    done = subprocess.run(
        [str(OUTBOUND), "--db", db_url, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"outbound {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _customers_csv(path: Path, count: int) -> list[str]:
    rng = random.Random(20261126)
    per_region = -(-count // len(REGIONS))
    phones = {region: valid_phones(rng, region, min(per_region, 500)) for region, _, _ in REGIONS}
    ids = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "name", "phone", "timezone", "locale", "country"])
        for i in range(count):
            region, zone, locale = REGIONS[i % len(REGIONS)]
            ext = f"LOAD{i:06d}"
            pool = phones[region]
            writer.writerow(
                [ext, f"Load {i}", pool[(i // len(REGIONS)) % len(pool)], zone, locale, region]
            )
            ids.append(ext)
    return ids


def prepare(workdir: Path, customers: int, url: str | None = None) -> tuple[str, str, list[str]]:
    """A migrated database (a fresh SQLite file unless ``url``) with one source and
    ``customers`` customers: (url, secret, ids)."""
    if url is None:
        db = workdir / "api-load.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    _cli(url, "db", "upgrade")
    out = _cli(url, "source", "add", "bench", "--events", "shipping.dispatched", "--rate", "100000")
    found = SECRET.search(out)
    if found is None:
        raise RuntimeError(f"no secret in `outbound source add` output:\n{out}")
    ids = _customers_csv(workdir / "customers.csv", customers)
    _cli(url, "customer", "import", str(workdir / "customers.csv"), "--json")
    return url, found.group(0), ids


# --- the server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, port: int, log: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    command = [str(OUTBOUND), "--db", db_url, "serve", "--role", "api", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", str(workers)], stdout=handle, stderr=subprocess.STDOUT
    )
    handle.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"outbound serve exited with {proc.returncode}: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"outbound serve did not become ready: {log.read_text()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- requests, built and signed before the clock starts --------------------------------------


def build_requests(secret: str, customers: Sequence[str], count: int, port: int) -> list[bytes]:
    """``count`` complete HTTP/1.1 requests, each a new shipment with its own webhook-id."""
    stamp = int(time.time())  # the server's clock is the wall clock; 5 minutes of tolerance
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(count):
        body = json.dumps(
            {
                "type": "shipping.dispatched",
                "data": {
                    "customer": customers[i % len(customers)],
                    "order_id": f"L{run}-{i:07d}",
                    "carrier": "DHL",
                    "tracking_no": f"T{run}{i:07d}",
                    "eta": "2026-12-01",
                },
            },
            separators=(",", ":"),
        ).encode()
        wid = f"msg_{run}_{i}"
        head = (
            f"POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"webhook-id: {wid}\r\nwebhook-timestamp: {stamp}\r\n"
            f"webhook-signature: {sign(secret, wid, stamp, body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


# --- the load generator ----------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared bytes and reads whole answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
                break
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    unsent: list[float] = field(default_factory=list)  # open loop: released, never sent


async def closed_loop(
    port: int, requests: list[bytes], connections: int, seconds: float
) -> tuple[Tally, float]:
    tally, queue = Tally(), iter(requests)
    stop = time.perf_counter() + seconds

    async def client() -> None:
        conn = await Connection.open(port)
        try:
            for request in queue:  # shared iterator: each request is sent once
                if time.perf_counter() >= stop:
                    return
                start = time.perf_counter()
                try:
                    status = await conn.exchange(request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    tally.errors += 1
                    conn.close()
                    conn = await Connection.open(port)
                    continue
                tally.latencies.append(time.perf_counter() - start)
                tally.statuses[status] += 1
        finally:
            conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return tally, time.perf_counter() - began


async def open_loop(
    port: int, requests: list[bytes], connections: int, rate: float, seconds: float
) -> tuple[Tally, float]:
    """Release request i at began + i/rate; latency is measured from that release time.

    The phase ends ``seconds`` after the start (plus a second for answers in flight). A server
    slower than ``rate`` leaves requests released but never sent: each counts as ``unsent``
    with its wait so far as a lower bound of its latency, so the percentiles stay honest.
    """
    tally = Tally()
    total = min(len(requests), int(rate * seconds))
    released: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    began = time.perf_counter()
    end = began + seconds

    async def pacer() -> None:
        for i in range(total):
            due = began + i / rate
            delay = due - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            released.put_nowait((due, requests[i]))

    async def client() -> None:
        conn = await Connection.open(port)
        try:
            while time.perf_counter() < end:
                try:
                    due, request = await asyncio.wait_for(released.get(), end - time.perf_counter())
                except TimeoutError:
                    return
                try:
                    status = await conn.exchange(request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    tally.errors += 1
                    conn.close()
                    conn = await Connection.open(port)
                    continue
                tally.latencies.append(time.perf_counter() - due)
                tally.statuses[status] += 1
        finally:
            conn.close()

    await asyncio.gather(pacer(), *(client() for _ in range(connections)))
    stopped = time.perf_counter()
    while not released.empty():
        due, _ = released.get_nowait()
        tally.unsent.append(stopped - due)
    return tally, stopped - began


def _phase(name: str, connections: int, rate: float | None, tally: Tally, seconds: float) -> Phase:
    done = len(tally.latencies)
    # unsent requests waited at least this long: their lower bounds keep the percentiles honest
    ms = [v * 1000 for v in (*tally.latencies, *tally.unsent)]
    return Phase(
        name=name,
        connections=connections,
        offered_rps=rate,
        seconds=round(seconds, 2),
        sent=done + tally.errors,
        statuses=dict(sorted(tally.statuses.items())),
        errors=tally.errors,
        unsent=len(tally.unsent),
        requests_per_second=round(done / seconds, 1) if seconds else 0.0,
        p50_ms=round(percentile(ms, 50), 2),
        p90_ms=round(percentile(ms, 90), 2),
        p99_ms=round(percentile(ms, 99), 2),
        max_ms=round(max(ms, default=float("nan")), 2),
    )


# --- profiling (py-spy) ----------------------------------------------------------------------


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy not found (pip install py-spy); no profile", file=sys.stderr)
        return None
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--subprocesses"]
    command += ["--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarize_profile(raw: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """(function, % of busy samples with it on the stack, % with it on top) from py-spy's
    collapsed stacks: the project's own functions by inclusive share, then the hottest frames
    by self share. Idle samples (threads waiting in select/epoll, on a lock or a queue) are
    left out, so the shares are of the time the server was busy.
    """
    idle = ("select (selectors.py", "epoll", "wait (threading.py", "_worker (concurrent")
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    ours: set[str] = set()
    busy = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or any(key in frames[-1] for key in idle):
            continue
        n = int(count)
        busy += n
        for frame in set(frames):
            name = _short(frame)
            inclusive[name] += n
            if "(outbound/" in frame:
                ours.add(name)
        own[_short(frames[-1])] += n
    if not busy:
        return []
    project = sorted(ours, key=lambda name: -inclusive[name])[:top]
    hottest = [name for name, _ in own.most_common(top) if name not in project]
    return [
        (name, round(100 * inclusive[name] / busy, 1), round(100 * own[name] / busy, 1))
        for name in project + hottest
    ]


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` → ``func (module.py)``."""
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    return f"{match.group(1)} ({Path(match.group(2)).name})"


# --- the run ---------------------------------------------------------------------------------


def verify(db_url: str) -> tuple[int, int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(notifications)).scalar_one()
            r = conn.execute(select(func.count()).select_from(webhook_receipts)).scalar_one()
        return int(n), int(r)
    finally:
        engine.dispose()


def healthz_requests(port: int, count: int) -> list[bytes]:
    return [f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode()] * count


@dataclass(frozen=True)
class Load:
    customers: int
    seconds: float
    connections: int
    rate: str  # "half" (of the closed loop's req/s), a number, or "0" (skip)
    max_rps: float
    profile: bool
    workers: int = 1
    postgres: bool = False


def run(workdir: Path, load: Load, say: Any = print) -> LoadResult:
    cluster = _pg_cluster() if load.postgres else None
    try:
        url = cluster.new_database() if cluster is not None else None
        say(f"api-load: preparing {load.customers:,} customers through the CLI …")
        db_url, secret, ids = prepare(workdir, load.customers, url)
        return _measure(workdir, load, db_url, secret, ids, say)
    finally:
        if cluster is not None:
            cluster.remove()


def _pg_cluster() -> Any:
    from tests.conftest import pg_cluster  # a throwaway cluster, as the tests start one

    return pg_cluster()


def _measure(
    workdir: Path, load: Load, db_url: str, secret: str, ids: list[str], say: Any
) -> LoadResult:
    port = _free_port()
    server = start_server(db_url, port, workdir / "serve.log", load.workers)
    seconds, connections = load.seconds, load.connections
    result = LoadResult(
        customers=load.customers,
        database="postgresql" if load.postgres else "sqlite",
        workers=load.workers,
    )
    try:
        budget = int(load.max_rps * seconds)
        say(f"api-load: signing {budget:,} requests …")
        closed_reqs = build_requests(secret, ids, budget, port)
        say(f"api-load: /healthz closed loop, {connections} connections, {seconds:g} s …")
        tally, took = asyncio.run(
            closed_loop(port, healthz_requests(port, budget * 4), connections, seconds)
        )
        result.phases.append(_phase("/healthz", connections, None, tally, took))
        spy = None
        if load.profile:
            spy = start_profiler(server.pid, seconds, workdir / "profile.txt")
            time.sleep(1.0)  # let py-spy attach before the load starts
        say(f"api-load: closed loop, {connections} connections, {seconds:g} s …")
        tally, took = asyncio.run(closed_loop(port, closed_reqs, connections, seconds))
        result.phases.append(_phase("closed loop", connections, None, tally, took))
        if len(tally.latencies) + tally.errors >= len(closed_reqs):
            say("api-load: WARNING all prepared requests were used; raise --max-rps")
        if spy is not None:
            _keep_profile(spy, seconds, workdir / "profile.txt", result)
        rate = _open_rate(load.rate, result.phases[-1].requests_per_second)
        if rate:
            open_reqs = build_requests(secret, ids, int(rate * seconds), port)
            say(
                f"api-load: open loop at {rate:g} req/s, {connections} connections, {seconds:g} s …"
            )
            tally, took = asyncio.run(open_loop(port, open_reqs, connections, rate, seconds))
            result.phases.append(_phase("open loop", connections, rate, tally, took))
            say(f"api-load: /healthz open loop at {rate:g} req/s (the latency floor here) …")
            peer = healthz_requests(port, len(open_reqs))
            tally, took = asyncio.run(open_loop(port, peer, connections, rate, seconds))
            result.phases.append(_phase("/healthz open", connections, rate, tally, took))
    finally:
        stop_server(server)
    result.accepted = sum(p.statuses.get(202, 0) for p in result.phases)
    result.notifications, result.receipts = verify(db_url)
    result.durable = result.notifications == result.accepted == result.receipts
    return result


def _open_rate(rate: str, closed_rps: float) -> float:
    return round(closed_rps / 2) if rate == "half" else float(rate)


def _keep_profile(
    spy: subprocess.Popen[bytes], seconds: float, raw: Path, result: LoadResult
) -> None:
    spy.wait(timeout=seconds + 60)
    if raw.exists():
        result.profile = summarize_profile(raw)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        kept = RESULTS_DIR / "api_load-profile.txt"
        shutil.copyfile(raw, kept)
        result.profile_file = str(kept)


def report(result: LoadResult) -> str:
    lines = [
        f"API load: signed shipping.dispatched → outbound serve --role api --workers "
        f"{result.workers} ({result.database}), {result.customers:,} customers; targets: "
        f"ingest ≥ {TARGET_RATIO:g} × /healthz, open-loop p99 < {TARGET_P99_MS:g} ms",
        "  phase         conns  offered  seconds      sent    req/s   p50 ms   p90 ms   p99 ms"
        "   max ms  statuses",
    ]
    for p in result.phases:
        offered = f"{p.offered_rps:,.0f}" if p.offered_rps else "max"
        statuses = ", ".join(f"{k}: {v:,}" for k, v in p.statuses.items())
        if p.errors:
            statuses += f", connection errors: {p.errors:,}"
        if p.unsent:
            statuses += f"; {p.unsent:,} released but never sent (percentiles are lower bounds)"
        lines.append(
            f"  {p.name:<12}  {p.connections:>5}  {offered:>7}  {p.seconds:>7.1f}  {p.sent:>8,}"
            f"  {p.requests_per_second:>7,.0f}  {p.p50_ms:>7.1f}  {p.p90_ms:>7.1f}"
            f"  {p.p99_ms:>7.1f}  {p.max_ms:>7.1f}  {statuses}"
        )
    by_name = {p.name: p for p in result.phases}
    peer, ingest = by_name.get("/healthz"), by_name.get("closed loop")
    if peer and ingest and peer.requests_per_second:
        ratio = ingest.requests_per_second / peer.requests_per_second
        met = "met" if ratio >= TARGET_RATIO else "NOT met"
        lines.append(
            f"  ingest ÷ /healthz: {ingest.requests_per_second:,.0f} ÷ "
            f"{peer.requests_per_second:,.0f} = {ratio:.2f} (target ≥ {TARGET_RATIO:g}: {met})"
        )
    opened = by_name.get("open loop")
    if opened and peer and peer.requests_per_second:
        met = "met" if opened.p99_ms < TARGET_P99_MS and not opened.unsent else "NOT met"
        lines.append(
            f"  open loop at {opened.offered_rps:,.0f} req/s "
            f"({(opened.offered_rps or 0) / peer.requests_per_second:.2f} × /healthz): p99 "
            f"{opened.p99_ms:.1f} ms (target < {TARGET_P99_MS:g} ms: {met})"
        )
    floor = by_name.get("/healthz open")
    if opened and floor:
        lines.append(
            f"  the same offered rate on /healthz: p99 {floor.p99_ms:.1f} ms (the machine's "
            "latency floor in this run)"
        )
    verdict = "yes" if result.durable else "NO"
    lines.append(
        f"  durable: {result.accepted:,} answers 202, {result.notifications:,} notifications and "
        f"{result.receipts:,} receipts in the database → every 202 committed: {verdict}"
    )
    if result.profile:
        lines += [
            "",
            "  server profile (py-spy, closed loop; % of busy samples on stack / on top): outbound's "
            "own functions, then the hottest frames",
        ]
        lines += [f"    {inc:5.1f}% {own:5.1f}%  {name}" for name, inc, own in result.profile]
        lines.append(f"  collapsed stacks: {result.profile_file}")
    return "\n".join(lines)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.api_load",
        description="Signed webhook load against `outbound serve --role api`.",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (20)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (32)")
    parser.add_argument(
        "--rate",
        default="half",
        help="open-loop offered rate in req/s, or 'half' of the closed loop's (default); 0 skips",
    )
    parser.add_argument(
        "--postgres", action="store_true", help="a throwaway PostgreSQL cluster, not SQLite"
    )
    parser.add_argument("--workers", type=int, default=1, help="API processes (PostgreSQL)")
    parser.add_argument("--customers", type=int, default=2_000, help="customers imported (2000)")
    parser.add_argument(
        "--max-rps",
        type=float,
        default=6_000,
        help="closed-loop requests prepared per second of --duration (6000)",
    )
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy")
    parser.add_argument("--workdir", type=Path, help="keep the database and logs here")
    parser.add_argument(
        "--output", type=Path, default=RESULTS_DIR / "api_load.json", help="JSON results file"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="outbound-api-load-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        load = Load(
            customers=args.customers,
            seconds=args.duration,
            connections=args.connections,
            rate=args.rate,
            max_rps=args.max_rps,
            profile=args.profile,
            workers=args.workers,
            postgres=args.postgres,
        )
        result = run(workdir, load, say=say)
    print(report(result))
    data = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "params": {k: str(v) for k, v in vars(args).items()},
        "api_load": result.as_dict(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nresults written to {args.output}")
    return 0 if result.durable else 1


if __name__ == "__main__":
    raise SystemExit(main())
