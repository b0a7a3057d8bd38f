"""``outbound audit``: verify, checkpoint and list the hash-chained audit log."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from outbound.cli.context import JSON_OPTION, Ctx, fail, now, pass_ctx, writable_file
from outbound.cli.output import emit_json, table
from outbound.config.audit_key import HINT
from outbound.domain.errors import ConfigError, ValidationError
from outbound.services.checkpoints import scheduled_file, shown
from outbound.services.views.chain_status import (
    Checkpoint,
    VerifyResult,
    parse_checkpoint,
    verify_chain,
)


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log.

    \b
    Example:
      outbound audit verify
      outbound audit checkpoint --to /srv/anchor/audit-checkpoint.json
      outbound audit list --subject customer#12 --json
    """


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False),
    help="A checkpoint file from `outbound audit checkpoint`: the chain must still match it.",
)
@JSON_OPTION
@pass_ctx
def audit_verify(ctx: Ctx, checkpoint_file: str | None, as_json: bool) -> None:
    """Check every link and MAC of the chain; report the first broken one (exit 1).

    With an audit key (OUTBOUND_AUDIT_KEY or the key file), every event's MAC is checked, so a
    row edited with every later hash recomputed is found. With --checkpoint (default: the file
    [audit] checkpoint_to names, if there is one), a deleted tail (head moved back) or a chain
    rewritten before the checkpoint is found too.

    \b
    Example:
      outbound audit verify
      outbound audit verify --checkpoint /srv/anchor/audit-checkpoint.json --json
    """
    app = ctx.app()
    checkpoint_file = checkpoint_file or _scheduled_checkpoint(app.settings.audit.checkpoint_to)
    checkpoint = _read_checkpoint(app.audit_key, checkpoint_file) if checkpoint_file else None
    with app.engine.begin() as conn:
        result = verify_chain(conn, app.audit_key, checkpoint)
    notes = _notes(result) + _anchor_notes(result, app.settings.audit.checkpoint_to)
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "broken_at": result.broken_at,
                "problem": result.problem,
                "keyed": result.keyed,
                "signed": result.signed,
                "unsigned": result.unsigned,
                "checkpoint": checkpoint.as_dict() if checkpoint else None,
                "warnings": notes,
            }
        )
    elif result.ok:
        click.echo(f"audit chain intact: {result.checked} events verified{_how(result)}")
    else:
        click.echo(
            f"audit chain BROKEN at seq {result.broken_at}: {result.problem} ({result.checked} events verified before it)"
        )
    if not as_json:
        for note in notes:
            click.echo(f"warning: {note}", err=True)
    if not result.ok:
        sys.exit(1)


def _scheduled_checkpoint(target: str) -> str | None:
    """The file ``serve`` writes checkpoints to, when it is a local file that exists."""
    found = scheduled_file(target)
    return str(found) if found else None


def _read_checkpoint(key: bytes | None, path: str) -> Checkpoint:
    if key is None:
        raise ConfigError(f"a checkpoint's signature needs the audit key, and none is set; {HINT}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ValidationError(f"--checkpoint {path!r} cannot be read ({reason})") from None
    return parse_checkpoint(text, key, repr(path))


def _how(result: VerifyResult) -> str:
    parts = []
    if result.keyed:
        parts.append(f"{result.signed} MACs checked")
    if result.checkpoint is not None:
        cp = result.checkpoint
        parts.append(f"matches the checkpoint of {cp.at.isoformat()} (seq {cp.seq})")
    return f" ({'; '.join(parts)})" if parts else ""


def _anchor_notes(result: VerifyResult, scheduled: str) -> list[str]:
    """Without a checkpoint nothing shows a deleted tail (head moved back with it): say so,
    and louder when the configured checkpoint file is not there (deleted with the tail?)."""
    if not result.keyed or result.checkpoint is not None:
        return []
    if scheduled and scheduled != "-" and not scheduled.startswith(("http://", "https://")):
        return [
            f"[audit] checkpoint_to {shown(scheduled)} does not exist, so no checkpoint was "
            "held: events deleted from the tail cannot be detected; if serve has written "
            "checkpoints there, find out who removed it, and pass a copy with --checkpoint"
        ]
    return [
        "no checkpoint held (--checkpoint, or [audit] checkpoint_to): events deleted from the "
        "tail cannot be detected; write one with `outbound audit checkpoint --to FILE`"
    ]


def _notes(result: VerifyResult) -> list[str]:
    if not result.keyed:
        return [
            "no audit key configured: only the hash links were checked, and whoever can write "
            f"the database can recompute them; {HINT}"
        ]
    if result.unsigned:
        return [
            f"the first {result.unsigned} events carry no MAC (written before an audit key was "
            "configured, or stripped by whoever rewrote them); only a checkpoint protects them"
        ]
    return []


@audit_group.command("checkpoint")
@click.option(
    "--to",
    "target",
    help="A file, - (stdout) or an http(s):// URL to POST to (default [audit] checkpoint_to).",
)
@pass_ctx
def audit_checkpoint(ctx: Ctx, target: str | None) -> None:
    """Sign the chain's head (seq, hash, time) with the audit key and write it outside the database.

    Keep checkpoints where the database's administrator cannot change them; `audit verify
    --checkpoint FILE` later proves the chain still holds and still reaches that seq.

    \b
    Example:
      outbound audit checkpoint --to /srv/anchor/audit-checkpoint.json
      outbound audit checkpoint --to -
      outbound audit checkpoint --to https://anchor.example/v1/checkpoints
    """
    app = ctx.app()
    where = target or app.settings.audit.checkpoint_to
    if not where:
        raise click.UsageError("give --to FILE, --to - or --to URL (or set [audit] checkpoint_to)")
    checkpoint = app.checkpoints().write(where)
    if where != "-":
        click.echo(
            f"checkpoint seq {checkpoint.seq} at {checkpoint.at.isoformat()} written to {shown(where)}"
        )


@audit_group.command("list")
@click.option("--subject", help="e.g. customer#12, notification#40, delivery#7")
@click.option("--action", help="e.g. consent.revoke, delivery.outcome")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
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
    from outbound.services.views.history import audit_list as events

    with ctx.app().engine.begin() as conn:
        data = events(conn, subject=subject, action=action, limit=limit)
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
    callback=writable_file,
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
    from outbound.services.views.evidence import Selection, export_file, manifest_path

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
