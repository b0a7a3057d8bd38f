"""``outbound audit``: verify and list the hash-chained audit log."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select

from outbound.cli.context import JSON_OPTION, Ctx, fail, now, pass_ctx
from outbound.cli.output import emit_json, table
from outbound.store import audit


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log.

    \b
    Example:
      outbound audit verify
      outbound audit list --subject customer#12 --json
    """


@audit_group.command("verify")
@JSON_OPTION
@pass_ctx
def audit_verify(ctx: Ctx, as_json: bool) -> None:
    """Check every link of the chain; report the first broken one (exit 1).

    \b
    Example:
      outbound audit verify
    """
    with ctx.app().engine.begin() as conn:
        result = audit.verify(conn)
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "broken_at": result.broken_at,
                "problem": result.problem,
            }
        )
    elif result.ok:
        click.echo(f"audit chain intact: {result.checked} events verified")
    else:
        click.echo(
            f"audit chain BROKEN at seq {result.broken_at}: {result.problem} ({result.checked} events verified before it)"
        )
    if not result.ok:
        sys.exit(1)


@audit_group.command("list")
@click.option("--subject", help="e.g. customer#12, notification#40, delivery#7")
@click.option("--action", help="e.g. consent.revoke, delivery.outcome")
@click.option("--limit", default=50, show_default=True)
@JSON_OPTION
@pass_ctx
def audit_list(
    ctx: Ctx, subject: str | None, action: str | None, limit: int, as_json: bool
) -> None:
    """Show audit events, newest first (phones are masked in the log itself).

    \b
    Example:
      outbound audit list --action consent.revoke --limit 10
    """
    from outbound.services.reports import event_data
    from outbound.store.tables import audit_events as ev

    query = select(ev).order_by(ev.c.seq.desc()).limit(limit)
    if subject:
        query = query.where(ev.c.subject == subject)
    if action:
        query = query.where(ev.c.action == action)
    with ctx.app().engine.begin() as conn:
        rows = conn.execute(query).all()
    data = [
        {
            "seq": r.seq,
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "data": event_data(r.data),
            "hash": r.hash,
        }
        for r in rows
    ]
    if as_json:
        emit_json(data)
    else:
        click.echo(
            table(
                ["seq", "at", "actor", "action", "subject", "hash"],
                [
                    [d["seq"], d["at"], d["actor"], d["action"], d["subject"], d["hash"][:12]]
                    for d in data
                ],
            )
        )


def _instant(value: str | None, name: str) -> datetime | None:
    """ISO date or datetime; without a zone it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or time; expected like 2026-11-26 or "
            "2026-11-26T15:00:00+00:00",
            param_hint=name,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit_group.command("export")
@click.option("--customer", help="External id (or #internal id): their whole evidence bundle.")
@click.option("--campaign", help="Campaign name or id: its runs, notifications, deliveries.")
@click.option("--since", help="From this ISO date/time (UTC unless it names a zone).")
@click.option("--until", help="Before this ISO date/time (UTC unless it names a zone).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default evidence-<what>.<format>); its manifest goes beside it.",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A chain checkpoint file to name (and check) in the manifest.",
)
@JSON_OPTION
@pass_ctx
def audit_export(
    ctx: Ctx,
    customer: str | None,
    campaign: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    out: Path | None,
    checkpoint: Path | None,
    as_json: bool,
) -> None:
    """Export evidence as CSV or JSONL, with a manifest (row count, chain head, checkpoint).

    Audit rows are exported as stored, so every hash can be recomputed from the file. With
    --customer the file bundles consent evidence, decisions, deliveries, receipts and call
    transcripts (phones masked); a forgotten customer shows the erasure record only. CSV cells
    that a spreadsheet would run as formulas are prefixed with a quote.

    \b
    Example:
      outbound audit export --customer C1001 --format csv --out c1001.csv
      outbound audit export --campaign spring-renewals
      outbound audit export --since 2026-11-01 --until 2026-12-01 --format jsonl --json
    """
    from outbound.services.evidence import Selection, export_file, manifest_path

    sel = Selection(customer, campaign, _instant(since, "--since"), _instant(until, "--until"))
    if sel.since and sel.until and sel.since >= sel.until:
        fail(f"--since {since} is not before --until {until}; give an earlier --since")
    what = customer or campaign or "audit"
    path = out or Path(f"evidence-{re.sub(r'[^A-Za-z0-9_.-]', '_', what)}.{fmt}")
    app = ctx.app()
    with app.engine.begin() as conn:
        meta = export_file(
            conn,
            sel,
            "csv" if fmt == "csv" else "jsonl",
            path,
            now=now(),
            key=app.erasure_key(),
            checkpoint=checkpoint,
        )
    if as_json:
        emit_json(meta)
        return
    chain = meta["chain"]
    click.echo(
        f"wrote {meta['rows']} record(s) to {path} (sha256 {meta['sha256'][:16]}…); manifest "
        f"{manifest_path(path)}; chain head seq {chain['head_seq']} {chain['head_hash'][:16]}…, "
        + ("verified" if chain["verified"] else f"BROKEN: {chain['problem']}")
    )


# --- processes -----------------------------------------------------------------------------
