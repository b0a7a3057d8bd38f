"""The text report of ``benchmarks.pg_dispatch`` (its JSON file has every figure)."""

from __future__ import annotations

from typing import Any

TARGET = 1.6  # two worker processes / one, from the throughput issue


def report(result: dict[str, Any]) -> str:
    lines = [
        f"PostgreSQL {result['server']} dispatch to the log sink, "
        f"{result['runs'][0]['deliveries']:,} due (throwaway cluster, fsync=off)",
        "  round  workers  load  drain s  deliveries/s  exit s  batch ms  CPU ms/deliv.  cores"
        "  stmts/deliv.  audit wait ms/batch  machine busy  exactly once",
    ]
    for r in result["runs"]:
        lines.append(
            f"  {r['round']:>5}  {r['workers']:>7}  {r['loadavg']:>4.1f}  {r['drain_seconds']:>7.1f}"
            f"  {r['deliveries_per_second']:>12,.0f}  {r['exit_seconds']:>6.1f}"
            f"  {r['batch_ms']:>8.0f}  {r['cpu_ms_per_delivery']:>13.2f}  {r['cores_used']:>5.2f}"
            f"  {r['statements_per_delivery']:>12.2f}  {r['audit_wait_ms_per_batch']:>19.2f}"
            f"  {r['machine_busy_percent']:>11.0f}%  "
            + ("yes" if r["exactly_once"] else "NO: " + "; ".join(r["problems"]))
        )
    if result.get("ratios"):
        median = result["ratio_median"]
        verdict = "meets" if median >= TARGET else "misses"
        lines.append(
            f"  two / one per round: {', '.join(f'{x:.2f}' for x in result['ratios'])}; "
            f"median {median:.2f} (target ≥ {TARGET}: {verdict})"
        )
    for r in result["runs"]:
        lines += _details(r)
    return "\n".join(lines)


def _details(r: dict[str, Any]) -> list[str]:
    p = r["probe"]
    lines = [
        f"\n  round {r['round']}, {r['workers']} worker(s), deliveries per worker "
        f"{sorted(r['per_worker'].values())}: CPU s per worker {p['worker_cpu_seconds']}, "
        f"their backends {p['backend_cpu_seconds']} s; mean backends per state:"
    ]
    lines += [f"    {v:6.3f}  {k}" for k, v in list(p["backend_states"].items())[:9]]
    if p["lock_waits_by_holder"]:
        lines.append("    lock waits (waiting statement ← holder's state: its last statement):")
        lines += [f"    {v:6.3f}  {k}" for k, v in p["lock_waits_by_holder"].items()]
    if r["statements"]:
        lines.append("    pg_stat_statements: calls, total ms, mean ms")
        lines += [
            f"    {s['calls']:>7}  {s['total_ms']:>9.0f}  {s['mean_ms']:>8.3f}  {s['statement']}"
            for s in r["statements"][:12]
        ]
    for i, prof in enumerate(r["profile"]):
        lines.append(
            f"    worker {i} (py-spy, {prof['dispatch_seconds']} s sampled): "
            f"{prof['db_wait_share']}% waiting for PostgreSQL; % of the dispatch thread "
            "(of which waiting) per stage:"
        )
        sampled = max(prof["dispatch_seconds"], 0.01)
        for s in prof["stages"][:13]:
            waiting = 100 * s["waiting_for_db_seconds"] / sampled
            lines.append(f"    {s['share']:>5.1f} ({waiting:4.1f})  {s['stage']}")
    return lines
