"""Run the benchmark suite: ``python -m benchmarks.run [--customers N] [--deliveries M]``.

Prints a table and writes ``benchmarks/results/latest.json``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy

from benchmarks import apscheduler_peer, dispatch, fanout, pg_dispatch, pg_report, shopify_intake
from benchmarks.common import RESULTS_DIR, Place, build_app, open_places
from outbound.store.db import make_engine

FANOUT_TARGET = 0.5  # raw / fan-out, from the issue
PEER_TARGET = 3.0  # outbound dispatch / the APScheduler peer, from the throughput issue


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="outbound benchmarks: campaign fan-out and dispatch throughput on SQLite, "
        "dispatch on PostgreSQL with one and two worker processes.",
    )
    parser.add_argument(
        "--customers", type=int, default=1_000_000, help="fan-out size (default 1,000,000)"
    )
    parser.add_argument(
        "--deliveries", type=int, default=50_000, help="dispatch backlog size (default 50,000)"
    )
    parser.add_argument(
        "--threads",
        default="1,2",
        help="comma-separated dispatch thread counts to measure (default 1,2)",
    )
    parser.add_argument(
        "--only",
        choices=("fanout", "dispatch", "pg", "shopify"),
        help="run only one benchmark (pg: dispatch on PostgreSQL, 1 vs 2 worker processes; "
        "shopify: Shopify intake vs /v1/events on one real server)",
    )
    parser.add_argument(
        "--renderers",
        default="legacy,files",
        help="dispatch renderers to measure, each per thread count in the same run: files "
        "(templates/, Babel) and legacy (the texts before issue 19, the peer); default both",
    )
    parser.add_argument(
        "--pg-deliveries",
        type=int,
        default=10_000,
        help="PostgreSQL dispatch backlog (default 10,000; see benchmarks.pg_dispatch)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the SQLite files go (default: a temporary directory, removed afterwards)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run under cProfile and write benchmarks/results/*.prof and *-profile.txt "
        "(timings are then inflated and marked as profiled)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS_DIR / "latest.json", help="JSON results file"
    )
    return parser.parse_args(argv)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _dump_profile(name: str, profiles: list[cProfile.Profile]) -> str:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stats = pstats.Stats(profiles[0])
    for extra in profiles[1:]:
        stats.add(extra)
    stats.dump_stats(str(RESULTS_DIR / f"{name}.prof"))
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    out = RESULTS_DIR / f"{name}-profile.txt"
    out.write_text(text.getvalue(), encoding="utf-8")
    return str(out)


def _save(path: Path, results: dict[str, Any]) -> None:
    """Written after every phase, so a long run that fails late keeps what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def _report(results: dict[str, Any]) -> str:
    lines = [
        f"outbound benchmarks — {results['when']} — {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}, SQLite {results['machine']['sqlite']}, "
        f"load average {results['machine']['loadavg_start'][0]} at start, "
        f"{results['machine']['loadavg_end'][0]} at end",
        f"time zones used (local time inside 10:00-17:00): {', '.join(results['zones'])}",
    ]
    f = results.get("fanout")
    if f:
        verdict = "meets" if f["ratio"] >= FANOUT_TARGET else "misses"
        lines += [
            "",
            f"1. Campaign fan-out (renewal, {f['customers']:,} customers)"
            + (" [PROFILED: inflated]" if f["profiled"] else ""),
            _table(
                [
                    ("seed (Core bulk insert)", f"{f['seed_seconds']:.1f} s"),
                    ("fan-out campaigns.run", f"{f['fanout_seconds']:.1f} s"),
                    ("fan-out rate", f"{f['customers_per_second']:,.0f} customers/s"),
                    ("raw Core insert, same rows", f"{f['raw_seconds']:.1f} s"),
                    ("raw insert rate", f"{f['raw_rows_per_second']:,.0f} rows/s"),
                    (
                        "ratio raw / fan-out",
                        f"{f['ratio']:.3f} (target ≥ {FANOUT_TARGET}: {verdict})",
                    ),
                    (
                        "notifications / deliveries",
                        f"{f['created']:,} / {f['deliveries']:,} "
                        f"(deferred {f['deferred']:,}, suppressed {f['suppressed']:,})",
                    ),
                    (
                        "channels",
                        ", ".join(f"{k} {v:,}" for k, v in sorted(f["channels"].items())),
                    ),
                    ("audit events / db size", f"{f['audit_events']:,} / {f['db_megabytes']} MB"),
                ]
            ),
        ]
    runs = results.get("dispatch") or []
    if runs:
        lines += [
            "",
            f"2. Dispatch to the log channel ({runs[0]['deliveries']:,} deliveries due at once)",
            "  threads  renderer  seconds  deliveries/s  lag p50  lag p99  lag max"
            "  claim→sent p50/p99  statuses",
        ]
        for r in runs:
            statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(r["statuses"].items()))
            lines.append(
                f"  {r['threads']:>7}  {r.get('renderer', 'files'):<8}  {r['seconds']:>7.1f}"
                f"  {r['deliveries_per_second']:>12,.0f}"
                f"  {r['lag_p50_seconds']:>6.1f}s  {r['lag_p99_seconds']:>6.1f}s"
                f"  {r['lag_max_seconds']:>6.1f}s  {r['service_p50_seconds'] * 1000:>8.0f}"
                f" / {r['service_p99_seconds'] * 1000:.0f} ms  {statuses}"
                + ("  [PROFILED]" if r["profiled"] else "")
            )
        lines.append("  lag = log_sends.at − max(due_at, worker start); see benchmarks/README.md")
        by = {(r["threads"], r.get("renderer", "files")): r["deliveries_per_second"] for r in runs}
        for n in sorted({r["threads"] for r in runs}):
            if (n, "files") in by and (n, "legacy") in by:
                ratio = by[(n, "files")] / by[(n, "legacy")]
                verdict = "within 5 %" if ratio >= 0.95 else "more than 5 % slower"
                lines.append(
                    f"  {n} thread(s): template files / legacy renderer = {ratio:.3f} ({verdict})"
                )
        cost = results.get("render_us")
        if cost:
            per = 1e6 / max(r["deliveries_per_second"] for r in runs)
            lines.append(
                f"  render per message: legacy {cost['legacy']:.1f} µs, files {cost['files']:.1f}"
                f" µs (+{cost['files'] - cost['legacy']:.1f} µs = "
                f"{(cost['files'] - cost['legacy']) / per:.1%} of a delivery's {per:.0f} µs)"
            )
        peer = results.get("peer")
        if peer:
            best = max(r["deliveries_per_second"] for r in runs)
            ratio = best / peer["sends_per_second"]
            verdict = "meets" if ratio >= PEER_TARGET else "misses"
            lines += [
                f"  peer: APScheduler 3, one job per notification in a SQLAlchemyJobStore on"
                f" SQLite, {peer['threads']}-thread executor: {peer['sends_per_second']:,.0f}"
                f" sends/s",
                f"  outbound (best) / peer = {ratio:.2f} (target ≥ {PEER_TARGET:g}: {verdict})",
            ]
    pg = results.get("pg_dispatch")
    if pg and "runs" in pg:
        lines += ["", "3. " + pg_report.report(pg).split("\n\n", 1)[0]]
    elif pg:
        lines += ["", f"3. PostgreSQL dispatch: {pg['skipped']}"]
    if results.get("shopify_report"):
        lines += ["", "4. " + results["shopify_report"]]
    return "\n".join(lines)


def _pg(args: argparse.Namespace, now: datetime, places: list[Place]) -> dict[str, Any]:
    """One then two worker processes on a throwaway PostgreSQL cluster (skipped without one)."""
    _say(f"pg-dispatch: {args.pg_deliveries:,} deliveries, 1 and 2 worker processes …")
    try:
        return pg_dispatch.run(
            args.pg_deliveries, [1, 2], now, places, profile=args.profile, say=_say
        )
    except LookupError as exc:  # PostgreSQL is not installed here
        _say(f"pg-dispatch: skipped: {exc}")
        return {"skipped": str(exc)}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    now = datetime.now(UTC).replace(microsecond=0)
    places = open_places(now)
    results: dict[str, Any] = {
        "when": now.isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": sqlalchemy.__version__,
            # other work on the machine skews every figure: compare runs at similar load
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "params": {
            "customers": args.customers,
            "deliveries": args.deliveries,
            "threads": threads,
            "profile": args.profile,
        },
        "zones": [p.zone for p in places],
        "profiles": {},
        "complete": False,
    }
    with tempfile.TemporaryDirectory(prefix="outbound-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.only in (None, "fanout"):
            prof = cProfile.Profile() if args.profile else None
            res = fanout.run(workdir, args.customers, now, places, profile=prof, say=_say)
            results["fanout"] = res.as_dict()
            _save(args.output, results)
            if prof is not None:
                results["profiles"]["fanout"] = _dump_profile("fanout", [prof])
            if args.workdir is None:  # a 1M-customer file is ~2 GB; keep only on request
                (workdir / "fanout.db").unlink(missing_ok=True)
        if args.only in (None, "dispatch"):
            template = dispatch.prepare(workdir, args.deliveries, now, places, _say)
            results["dispatch"] = []
            renderers = [r.strip() for r in args.renderers.split(",") if r.strip()]
            for n in threads:
                for renderer in renderers:
                    _say(f"dispatch: {n} thread(s), {renderer} renderer …")
                    profiles: list[cProfile.Profile] | None = [] if args.profile else None
                    res_d = dispatch.run(template, workdir, n, profiles=profiles, renderer=renderer)
                    results["dispatch"].append(res_d.as_dict())
                    _save(args.output, results)
                    if profiles:
                        name = f"dispatch-{n}-{renderer}"
                        results["profiles"][name] = _dump_profile(name, profiles)
            if len(renderers) > 1 and not args.profile:
                _say("dispatch: render cost per message, legacy and files interleaved …")
                results["render_us"] = dispatch.render_cost(
                    build_app(template, make_engine(f"sqlite:///{template}"))
                )
                _save(args.output, results)
            if not args.profile:
                _say(f"dispatch peer: APScheduler 3, {args.deliveries:,} jobs …")
                peer_dir = workdir / "apscheduler"
                peer_dir.mkdir(exist_ok=True)
                results["peer"] = apscheduler_peer.run(peer_dir, args.deliveries).as_dict()
                _save(args.output, results)
        if args.only in (None, "pg"):
            results["pg_dispatch"] = _pg(args, now, places)
            _save(args.output, results)
        if args.only in (None, "shopify"):
            shop = shopify_intake.run(workdir, 8.0, 16, 200, say=_say)
            results["shopify_intake"] = shop.as_dict()
            results["shopify_report"] = shopify_intake.report(shop)
            _save(args.output, results)
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["complete"] = True
    _save(args.output, results)
    print(_report(results))
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
