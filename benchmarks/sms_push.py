"""SMS submit throughput to the loopback SMSC (with receipts) and Web Push sends/s.

``python -m benchmarks.sms_push [--messages 2000] [--workers 1,4] [--limit-rate 50]
[--windows 1,10] [--window-delay-ms 50] [--webpush 1000]`` — see benchmarks/README.md. Standalone (like ``benchmarks.api_load``): it
needs node + outbound/testing/smsc_js/node_modules for the SMSC (``cd outbound/testing/smsc_js && npm ci``).

SMS: the production adapter ``outbound.channels.sms.SmppSms`` (smpplib, one
``bind_transceiver``) submits single-part GSM-7 messages with ``registered_delivery`` to
outbound/testing/smsc_js/smsc.js (the npm ``smpp`` server) on 127.0.0.1, which acknowledges each submit and
sends a DELIVRD receipt 20 ms later. Every submit takes a token from the production
``DbTokenBucket`` (a row in a fresh SQLite file, shared by all workers and processes). Receipts
are parsed by the adapter and handed to a counting handler (no database write), and counted
at the SMSC when acknowledged (``receipt_resp``). Workers:

* threads — W threads share one adapter (one SMPP session), as ``outbound serve`` threads do;
* processes — W processes, each with its own adapter and session, sharing the throttle row
  (as several ``outbound serve --role worker`` would).

SMS window: one thread puts batches of 50 through ``SmppSms.send_batch`` with ``[sms] window``
1 and 10 (``--windows``) while the SMSC answers every submit ``--window-delay-ms`` late: the
window is what keeps several submits outstanding.

Web Push: the production ``outbound.channels.push.WebPush`` (aes128gcm + a VAPID JWT per
request) through the adapter's ``PushHttp`` (window 64, batches of 50 per thread) to the loopback Web Push service of ``outbound.testing.peers`` running in a
child process, which decrypts every message and verifies every VAPID signature.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, fresh_engine
from outbound.channels.base import Message
from outbound.channels.sms import SmppSettings, SmppSms
from outbound.channels.sms_receipts import Receipt
from outbound.channels.throttle import Throttle
from outbound.domain.values import Accepted, Channel, Kind
from outbound.store.db import make_engine
from outbound.store.throttle import DbTokenBucket
from outbound.testing import smsc as loopback

SYSTEM_ID, PASSWORD = "bench", "bench123"
TEXT = "Shop: your order A1234 is on its way with DHL (tracking T998877), arriving 2026-12-01."
PHASE_TIMEOUT = 180.0  # seconds; a phase that takes longer is reported as incomplete
HIGH_RATE = 1_000_000.0  # messages/s: the limiter is never the bottleneck


class CountingInbound:
    """Receipts parsed by the adapter, counted in memory; MO ignored."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts = 0

    def receipt(self, receipt: Receipt) -> None:
        with self.lock:
            self.receipts += 1

    def mo(self, phone: str, text: str) -> str | None:
        return None


def _link(port: int) -> SmppSettings:
    return SmppSettings(
        host="127.0.0.1",
        port=port,
        system_id=SYSTEM_ID,
        password=PASSWORD,
        enquire_link_seconds=5.0,
        response_timeout_seconds=10.0,
        reconnect_max_seconds=1.0,
    )


def _throttle(db: Path, port: int, rate: float, burst: float) -> Throttle:
    bucket = DbTokenBucket(
        make_engine(f"sqlite:///{db}"),
        key=f"smpp:127.0.0.1:{port}:{SYSTEM_ID}:{rate:g}",
        rate=rate,
        burst=burst,
    )
    return Throttle(bucket, max_wait=30.0)


def _phone(i: int) -> str:
    return f"+1415555{i % 10_000:04d}"


def _send_share(sms: SmppSms, first: int, count: int, stamps: list[float]) -> None:
    for i in range(first, first + count):
        sms.send_text(_phone(i), TEXT)
        stamps.append(time.monotonic())


def _shares(total: int, workers: int) -> list[tuple[int, int]]:
    base, extra = divmod(total, workers)
    out, start = [], 0
    for w in range(workers):
        n = base + (1 if w < extra else 0)
        out.append((start, n))
        start += n
    return out


def _wait_receipts(server: loopback.Smsc, target: int, deadline: float) -> float | None:
    while server.count("receipt_resp") < target:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)
    return time.monotonic()


def _rates(stamps: list[float], t0: float) -> dict[str, Any]:
    """Submits per 1-second window from t0 (the limiter check)."""
    windows: dict[int, int] = {}
    for s in stamps:
        windows[int(s - t0)] = windows.get(int(s - t0), 0) + 1
    full = [windows.get(k, 0) for k in range(int(max(stamps) - t0))] if stamps else []
    return {"max_per_second_window": max(windows.values(), default=0), "full_windows": full}


def sms_threads(
    server: loopback.Smsc, db: Path, messages: int, workers: int, rate: float, burst: float
) -> dict[str, Any]:
    """W threads on one adapter (one SMPP session)."""
    inbound = CountingInbound()
    throttle = _throttle(db, server.port, rate, burst)
    sms = SmppSms(_link(server.port), throttle, inbound)
    receipts_before = server.count("receipt_resp")
    try:
        if not sms.wait_bound(10):
            raise RuntimeError("SMPP bind to the loopback SMSC failed")
        stamps: list[float] = []
        pool = [
            threading.Thread(target=_send_share, args=(sms, first, n, stamps), daemon=True)
            for first, n in _shares(messages, workers)
        ]
        t0 = time.monotonic()
        for t in pool:
            t.start()
        for t in pool:
            t.join(PHASE_TIMEOUT)
        submitted = time.monotonic()
        done = _wait_receipts(server, receipts_before + len(stamps), t0 + PHASE_TIMEOUT)
        parsed = inbound.receipts
    finally:
        sms.close()
        throttle.bucket.engine.dispose()  # type: ignore[attr-defined]
    return _result("threads", workers, messages, rate, t0, submitted, done, stamps, parsed)


def _process_worker(
    port: int,
    db: str,
    rate: float,
    burst: float,
    first: int,
    count: int,
    start: Any,
    done: Any,
    out: Any,
) -> None:
    """One worker process: its own adapter (session), the shared throttle row."""
    inbound = CountingInbound()
    throttle = _throttle(Path(db), port, rate, burst)
    sms = SmppSms(_link(port), throttle, inbound)
    try:
        ok = sms.wait_bound(10)
        out.put(("bound", ok))
        start.wait(30)
        stamps: list[float] = []
        _send_share(sms, first, count, stamps)
        out.put(("stamps", stamps))
        done.wait(PHASE_TIMEOUT)  # stay bound: the SMSC may deliver any receipt to any session
        out.put(("parsed", inbound.receipts))
    finally:
        sms.close()


def sms_processes(
    server: loopback.Smsc, db: Path, messages: int, workers: int, rate: float, burst: float
) -> dict[str, Any]:
    """W processes, each with its own SMPP session, sharing the SQLite throttle row."""
    ctx = multiprocessing.get_context("spawn")
    start, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    receipts_before = server.count("receipt_resp")
    procs = [
        ctx.Process(
            target=_process_worker,
            args=(server.port, str(db), rate, burst, first, n, start, done, out),
            daemon=True,
        )
        for first, n in _shares(messages, workers)
    ]
    try:
        for p in procs:
            p.start()
        bound = [out.get(timeout=60) for _ in procs]
        if not all(ok for _, ok in bound):
            raise RuntimeError("a worker process could not bind to the loopback SMSC")
        t0 = time.monotonic()  # CLOCK_MONOTONIC is system-wide on Linux: comparable across
        start.set()
        stamps: list[float] = []
        for _ in procs:
            _kind, value = out.get(timeout=PHASE_TIMEOUT)
            stamps.extend(value)
        submitted = max(stamps, default=t0)
        finished = _wait_receipts(server, receipts_before + len(stamps), t0 + PHASE_TIMEOUT)
        done.set()
        parsed = sum(out.get(timeout=30)[1] for _ in procs)
    finally:
        done.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join(5)
    return _result("processes", workers, messages, rate, t0, submitted, finished, stamps, parsed)


def _result(
    mode: str,
    workers: int,
    messages: int,
    rate: float,
    t0: float,
    submitted: float,
    receipted: float | None,
    stamps: list[float],
    parsed: int,
) -> dict[str, Any]:
    submit_s = submitted - t0
    res: dict[str, Any] = {
        "workers": workers,
        "mode": mode,
        "limit_per_second": None if rate >= HIGH_RATE else rate,
        "messages": messages,
        "submitted": len(stamps),
        "submit_seconds": round(submit_s, 3),
        "submits_per_second": round(len(stamps) / submit_s, 1) if submit_s > 0 else None,
        "receipts_complete": receipted is not None,
        "receipts_parsed_by_adapter": parsed,
    }
    if receipted is not None:
        res["last_receipt_seconds"] = round(receipted - t0, 3)
        res["receipted_per_second"] = round(len(stamps) / (receipted - t0), 1)
    if rate < HIGH_RATE:
        res.update(_rates(stamps, t0))
    return res


def sms_window(
    server: loopback.Smsc, db: Path, messages: int, window: int, delay_ms: float
) -> dict[str, Any]:
    """One thread sending batches through ``SmppSms.send_batch`` with a submit window of
    ``window``, while the SMSC answers each submit ``delay_ms`` late."""
    throttle = _throttle(db, server.port, HIGH_RATE, 1000.0)
    link = dataclasses.replace(_link(server.port), window=window)
    sms = SmppSms(link, throttle, CountingInbound())
    batch = [
        Message(i, Channel.SMS, Kind.SHIPPING, i, _phone(i), "en-US", TEXT) for i in range(messages)
    ]
    try:
        if not sms.wait_bound(10):
            raise RuntimeError("SMPP bind to the loopback SMSC failed")
        server.command(cmd="delay", ms=delay_ms)
        t0 = time.monotonic()
        results = [r for i in range(0, messages, 50) for r in sms.send_batch(batch[i : i + 50])]
        seconds = time.monotonic() - t0
    finally:
        server.command(cmd="delay", ms=0)
        sms.close()
        throttle.bucket.engine.dispose()  # type: ignore[attr-defined]
    accepted = sum(isinstance(r, Accepted) for r in results)
    return {
        "window": window,
        "delay_ms": delay_ms,
        "messages": messages,
        "accepted": accepted,
        "seconds": round(seconds, 3),
        "submits_per_second": round(accepted / seconds, 1),
        "most_outstanding": sms.window.most,
    }


# --- Web Push ---------------------------------------------------------------------------------


def _webpush_peer(public: bytes, subscribers: int, conn: Any) -> None:
    """Child process: the loopback Web Push service until told to stop."""
    from outbound.testing.peers import WebPushService

    service = WebPushService(public)
    try:
        subs = [service.subscribe(f"sub-{i:04d}") for i in range(subscribers)]
        conn.send(subs)
        conn.recv()  # stop
        conn.send({"decrypted": len(service.pushed), "refused": len(service.refused)})
    finally:
        service.close()


def _push_share(
    sender: Any,
    http: Any,
    subs: list[Any],
    content: Any,
    first: int,
    count: int,
    stamps: list[float],
    errors: list[str],
) -> None:
    """Requests built by ``WebPush.request``, sent 50 at a time through ``PushHttp``."""
    for start in range(first, first + count, 50):
        chunk = [(subs[i % len(subs)], i) for i in range(start, min(start + 50, first + count))]
        requests = [sender.request(sub, content, i) for sub, i in chunk]
        for (sub, _i), request, answer in zip(
            chunk, requests, http.post_all(requests), strict=True
        ):
            try:
                sender.outcome(sub, request, answer)
                stamps.append(time.monotonic())
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")


def webpush(messages: int, workers_list: list[int], say: Callable[[str], None]) -> list[Any]:
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    from outbound.channels.push import PushContent, WebPush, WebPushSettings
    from outbound.channels.push_http import PushHttp
    from outbound.domain.push_targets import PushTargets
    from outbound.domain.values import Subscription

    results = []
    ctx = multiprocessing.get_context("spawn")

    def clock() -> datetime:
        return datetime.now(UTC)

    with tempfile.TemporaryDirectory(prefix="outbound-bench-push-") as tmp:
        vapid = Vapid()
        vapid.generate_keys()
        key_file = Path(tmp) / "vapid.pem"
        vapid.save_key(str(key_file))
        public = vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        for workers in workers_list:
            parent, child = ctx.Pipe()
            peer = ctx.Process(target=_webpush_peer, args=(public, 50, child), daemon=True)
            http = PushHttp(clock, window=64, targets=PushTargets(allow_loopback=True))
            try:
                peer.start()
                if not parent.poll(60):
                    raise RuntimeError("the Web Push peer did not start")
                raw = parent.recv()
                subs = [
                    Subscription(i, i, "webpush", s["endpoint"], s["keys"])
                    for i, s in enumerate(raw)
                ]
                sender = WebPush(WebPushSettings(str(key_file), "mailto:bench@shop.example"), clock)
                content = PushContent("Shop", TEXT, {"delivery_id": "0", "kind": "shipping"})
                errors: list[str] = []
                stamps: list[float] = []
                say(f"web push: {messages:,} messages, {workers} thread(s) …")
                pool = [
                    threading.Thread(
                        target=_push_share,
                        args=(sender, http, subs, content, *share, stamps, errors),
                        daemon=True,
                    )
                    for share in _shares(messages, workers)
                ]
                t0 = time.monotonic()
                for t in pool:
                    t.start()
                for t in pool:
                    t.join(PHASE_TIMEOUT)
                seconds = time.monotonic() - t0
                parent.send("stop")
                peer_counts = parent.recv() if parent.poll(30) else {}
            finally:
                http.close()
                peer.join(10)
                if peer.is_alive():
                    peer.kill()
                    peer.join(5)
            results.append(
                {
                    "workers": workers,
                    "mode": "threads",
                    "messages": messages,
                    "sent": len(stamps),
                    "errors": len(errors),
                    "first_error": errors[0] if errors else None,
                    "seconds": round(seconds, 3),
                    "sends_per_second": round(len(stamps) / seconds, 1),
                    "peer": peer_counts,
                }
            )
    return results


# --- the run ----------------------------------------------------------------------------------


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sms_push",
        description="SMS submit throughput to the loopback SMSC (with receipts); Web Push sends/s.",
    )
    parser.add_argument("--messages", type=int, default=2000, help="SMS per run (default 2000)")
    parser.add_argument("--workers", default="1,4", help="worker counts (default 1,4)")
    parser.add_argument(
        "--modes", default="threads,processes", help="SMS worker kinds (default threads,processes)"
    )
    parser.add_argument(
        "--limit-rate",
        type=float,
        default=50.0,
        help="[sms] throughput_per_second of the limiter run (default 50; 0 skips it)",
    )
    parser.add_argument(
        "--limit-messages", type=int, default=250, help="SMS in the limiter run (default 250)"
    )
    parser.add_argument(
        "--windows", default="1,10", help="SMS submit windows to compare (default 1,10; '' skips)"
    )
    parser.add_argument(
        "--window-delay-ms",
        type=float,
        default=50.0,
        help="the SMSC's answer delay in the window runs (default 50)",
    )
    parser.add_argument(
        "--window-messages", type=int, default=200, help="SMS per window run (default 200)"
    )
    parser.add_argument(
        "--webpush",
        type=int,
        default=1000,
        help="Web Push messages per run (default 1000; 0 skips)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS_DIR / "sms_push.json", help="JSON results file"
    )
    return parser.parse_args(argv)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _save(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


def _report(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"SMS / push benchmarks — {results['when']} — {m['cpus']} CPUs, Python {m['python']}, "
        f"load average {m['loadavg_start'][0]} at start, {m.get('loadavg_end', ['?'])[0]} at end",
        "",
        "SMS submit_sm to the loopback SMSC (npm smpp), DELIVRD receipt per message",
        "  mode       workers  limit/s  messages  submit s  submits/s  last receipt s  "
        "receipted/s  max in 1 s",
    ]
    for r in results.get("sms", []):
        limit = f"{r['limit_per_second']:g}" if r["limit_per_second"] else "-"
        last = f"{r['last_receipt_seconds']:.2f}" if r["receipts_complete"] else "incomplete"
        per = f"{r['receipted_per_second']:,.0f}" if r["receipts_complete"] else "-"
        lines.append(
            f"  {r['mode']:<9}  {r['workers']:>7}  {limit:>7}  {r['submitted']:>8,}"
            f"  {r['submit_seconds']:>8.2f}  {r['submits_per_second'] or 0:>9,.0f}"
            f"  {last:>14}  {per:>11}  {r.get('max_per_second_window', '-'):>10}"
        )
    if results.get("sms_window"):
        lines += ["", "SMS submit window (one thread, batches of 50, the SMSC answering late)"]
        lines.append("  window  delay ms  messages  seconds  submits/s  most outstanding")
        for r in results["sms_window"]:
            lines.append(
                f"  {r['window']:>6}  {r['delay_ms']:>8g}  {r['accepted']:>8,}  {r['seconds']:>7.2f}"
                f"  {r['submits_per_second']:>9,.0f}  {r['most_outstanding']:>16}"
            )
    if results.get("webpush"):
        lines += [
            "",
            "Web Push (aes128gcm + VAPID per request) to the loopback service (decrypts, verifies)",
            "  threads  messages  seconds  sends/s  peer decrypted  errors",
        ]
        for r in results["webpush"]:
            lines.append(
                f"  {r['workers']:>7}  {r['sent']:>8,}  {r['seconds']:>7.2f}"
                f"  {r['sends_per_second']:>7,.0f}  {r['peer'].get('decrypted', '?'):>14}"
                f"  {r['errors']:>6}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results: dict[str, Any] = {
        "when": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "params": vars(args) | {"output": str(args.output)},
        "sms": [],
        "sms_window": [],
        "webpush": [],
        "complete": False,
    }
    missing = loopback.unavailable()
    if missing:
        _say(f"SMS benchmark skipped: {missing}")
        results["sms_skipped"] = missing
    else:
        server = loopback.Smsc(SYSTEM_ID, PASSWORD, keep_events=False)
        try:
            with tempfile.TemporaryDirectory(prefix="outbound-bench-sms-") as tmp:
                db = Path(tmp) / "throttle.db"
                fresh_engine(db).dispose()
                runs = [(mode, w, args.messages, HIGH_RATE) for mode in modes for w in workers]
                if args.limit_rate > 0:
                    runs.append(("threads", max(workers), args.limit_messages, args.limit_rate))
                for size in [int(x) for x in args.windows.split(",") if x.strip()]:
                    _say(f"sms: window {size}, SMSC answering {args.window_delay_ms:g} ms late …")
                    results["sms_window"].append(
                        sms_window(server, db, args.window_messages, size, args.window_delay_ms)
                    )
                    _save(args.output, results)
                for mode, w, n, rate in runs:
                    limit = "" if rate >= HIGH_RATE else f", limiter {rate:g}/s"
                    _say(f"sms: {n:,} messages, {w} {mode}{limit} …")
                    run = sms_threads if mode == "threads" else sms_processes
                    burst = 1.0 if rate < HIGH_RATE else 1000.0
                    results["sms"].append(run(server, db, n, w, rate, burst))
                    _save(args.output, results)
        finally:
            server.close()
    if args.webpush > 0:
        results["webpush"] = webpush(args.webpush, workers, _say)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["complete"] = True
    _save(args.output, results)
    print(_report(results))
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
