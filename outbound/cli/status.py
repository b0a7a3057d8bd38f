"""``outbound status``: the queue, throughput, failures, live processes, calls and the audit
checkpoint, once (``--json`` for programs) or live (``--watch``)."""

from __future__ import annotations

import time
from typing import Any

import click

from outbound.cli.context import JSON_OPTION, Ctx, now, pass_ctx


def _snapshot(ctx: Ctx) -> Any:
    from outbound.bootstrap.observe import checkpoint_file
    from outbound.observability.status import read

    app = ctx.app()
    return read(app.engine, now(), checkpoint_file(app))


def render(snap: Any) -> Any:
    """The snapshot as rich tables (one group): what `status` prints and `--watch` refreshes."""
    from rich.console import Group
    from rich.table import Table

    def grid(title: str, headers: list[str], rows: list[list[Any]]) -> Table:
        t = Table(title=title, title_justify="left", expand=False)
        for h in headers:
            t.add_column(h)
        for row in rows or [["-"] * len(headers)]:
            t.add_row(*(str(c) for c in row))
        return t

    def when(value: Any) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"

    checkpoint = (
        f"{when(snap.checkpoint_at)} ({snap.checkpoint_age_seconds:.0f} s ago)"
        if snap.checkpoint_at
        else "none written (\\[audit] checkpoint_to)"
    )
    return Group(
        f"[bold]outbound status[/] at {when(snap.at)}",
        grid(
            "Queue",
            ["channel", "status", "count"],
            [[r.channel, r.status, r.count] for r in snap.queue],
        ),
        grid(
            "Due now / deferred",
            ["channel", "due now", "deferred", "next resume"],
            [[d.channel, d.due_now, d.deferred, when(d.next_resume)] for d in snap.due],
        ),
        f"oldest due delivery: {snap.oldest_due_seconds:.0f} s",
        grid(
            "Sends per second (last minute)",
            ["channel", "provider", "per s"],
            [[r["channel"], r["provider"], r["per_second"]] for r in snap.sends_per_second],
        ),
        grid(
            "Failures (last hour)",
            ["channel", "reason", "count"],
            [[f.channel, f.reason, f.count] for f in snap.failures],
        ),
        grid(
            "Providers (last 5 minutes)",
            ["provider", "sent", "failed", "health"],
            [[p["provider"], p["sent"], p["failed"], p["health"]] for p in snap.providers],
        ),
        grid("Processes alive", ["role", "count"], [[k, v] for k, v in sorted(snap.alive.items())]),
        f"calls in progress: {snap.calls_in_progress}",
        f"audit head: #{snap.audit_head}; last checkpoint: {checkpoint}",
    )


@click.command()
@JSON_OPTION
@click.option("--watch", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option(
    "--every",
    type=click.FloatRange(0.5, 3600),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@pass_ctx
def status(ctx: Ctx, as_json: bool, watch: bool, every: float) -> None:
    """The queue, throughput, failures, live workers and dialers, calls and checkpoint.

    Queue by channel and status, due now against deferred (with the next resume time), sends
    per second over the last minute, failures by reason over the last hour, provider health,
    live processes (heartbeats of `serve` roles), calls in progress, the audit head and the
    last checkpoint.

    \b
    Example:
      outbound status
      outbound status --json
      outbound status --watch --every 5
    """
    if as_json and watch:
        raise click.UsageError("--json and --watch do not go together: pick one")
    if as_json:
        from outbound.cli.output import emit_json

        emit_json(_snapshot(ctx).as_dict())
        return
    from rich.console import Console

    console = Console()
    if not watch:
        console.print(render(_snapshot(ctx)))
        return
    from rich.live import Live

    with Live(render(_snapshot(ctx)), console=console, screen=False, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(every)
                live.update(render(_snapshot(ctx)), refresh=True)
        except KeyboardInterrupt:
            return
