"""``outbound audit``: verify and list the hash-chained audit log."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from outbound.cli.context import JSON_OPTION, Ctx, pass_ctx
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


# --- processes -----------------------------------------------------------------------------
