"""``outbound customer …`` and ``outbound consent …``: profiles, imports, the consent ledger."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from outbound.cli.context import JSON_OPTION, Ctx, Progress, fail, now, pass_ctx
from outbound.cli.output import clean, emit_json, table
from outbound.domain.errors import ValidationError
from outbound.domain.values import Channel, ConsentAction, Purpose
from outbound.services.views.history import customer_id_for

if TYPE_CHECKING:
    from outbound.bootstrap.app import App
    from outbound.domain.customers import CustomerRecord
    from outbound.services.people.imports import RowError


@click.group()
def customer() -> None:
    """Import, list and inspect customers.

    \b
    Example:
      outbound customer import customers.csv
      outbound customer show C1001
    """


@customer.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even if some are bad.")
@JSON_OPTION
@pass_ctx
def customer_import(ctx: Ctx, file: Path, skip_invalid: bool, as_json: bool) -> None:
    """Import customers from CSV (header row) or JSONL, UTF-8 (a BOM is fine).

    Columns: external_id, name, phone (E.164), timezone (IANA), locale, country, state (US, e.g. FL),
    preference (e.g. "push>sms>voice"), membership_tier, membership_expires_on (YYYY-MM-DD), wishlist
    ("SKU1;SKU2"), push_token, push_kind (fcm|webpush|apns), opt_in ("sms:marketing;voice:marketing:written").
    JSONL lines use the same keys (push_subscriptions as the API spells it, too).

    Updating customers that exist: a column the file does not have leaves that field as it
    is; an empty cell in a column it has clears the field (JSONL: a missing key leaves it,
    null or "" clears it). push_token adds a device, opt_in adds consents; neither removes.

    An unknown or misspelled column is refused with the closest known name; every bad row is
    reported by line number; nothing is imported unless all rows are valid or --skip-invalid
    is given. A file that is not UTF-8, a broken quote or an over-long cell stops the import.

    \b
    Example:
      outbound customer import customers.csv
      outbound customer import phones-only.csv   # external_id,phone: only phones change
      outbound customer import export.jsonl --skip-invalid --json
    """
    from outbound.services.people.imports import ImportFileError, parse_file

    app = ctx.app()
    name = clean(file.name)
    try:
        good, bad = parse_file(file, app.settings.push.targets())
    except ImportFileError as exc:
        fail(f"{name}: {exc}; nothing was imported")
    for problem in bad:
        click.echo(f"{name}: {clean(str(problem))}", err=True)
    if bad and not skip_invalid:
        fail(
            f"{len(bad)} invalid row(s) in {name}; nothing imported. Fix them or pass --skip-invalid"
        )
    created, updated = _write_rows(app, good, bad, file.name, skip_invalid, as_json)
    result = {"created": created, "updated": updated, "invalid": len(bad), "file": file.name}
    emit_json(result) if as_json else click.echo(
        f"imported {name}: {created} created, {updated} updated, {len(bad)} invalid skipped"
    )


def _write_rows(
    app: App,
    good: list[tuple[int, CustomerRecord]],
    bad: list[RowError],
    filename: str,
    skip_invalid: bool,
    as_json: bool,
) -> tuple[int, int]:
    """Upsert the valid rows in one transaction, a savepoint each: a row at odds with what is
    on file (a country against the stored phone) is reported by line like a bad row, and
    without --skip-invalid nothing is kept. Returns (created, updated)."""
    from outbound.services.people.customers import upsert_customer
    from outbound.services.people.imports import RowError

    name = clean(filename)
    created = updated = 0
    stamp, key = now(), app.erasure_key()
    progress = Progress("importing", len(good), enabled=not as_json and len(good) >= 200)
    with app.engine.begin() as conn:
        for line, record in good:
            try:  # a row at odds with what is on file (a country against the stored phone)
                with conn.begin_nested():
                    _cid, new = upsert_customer(
                        conn,
                        record,
                        now=stamp,
                        actor="cli",
                        source=f"import:{filename}",
                        erasure_key=key,
                    )
            except ValidationError as exc:
                bad.append(RowError(line, exc))
                click.echo(f"{name}: {clean(str(bad[-1]))}", err=True)
                continue
            progress.update(1)
            created, updated = created + new, updated + (not new)
        progress.close()
        if bad and not skip_invalid:
            fail(
                f"{len(bad)} invalid row(s) in {name}; nothing imported. "
                "Fix them or pass --skip-invalid"
            )
    return created, updated


@customer.command("list")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@JSON_OPTION
@pass_ctx
def customer_list(ctx: Ctx, limit: int, as_json: bool) -> None:
    """List customers (phones masked).

    \b
    Example:
      outbound customer list --limit 20
    """
    from outbound.services.people import customers

    with ctx.app().engine.begin() as conn:
        data = customers.listing(conn, limit)
    if as_json:
        emit_json(data)
    else:
        click.echo(table(list(data[0]) if data else ["id"], [list(d.values()) for d in data]))


@customer.command("show")
@click.argument("ref")
@JSON_OPTION
@pass_ctx
def customer_show(ctx: Ctx, ref: str, as_json: bool) -> None:
    """Profile, preferences, consents and one cross-channel history.

    \b
    Example:
      outbound customer show C1001
    """
    from outbound.cli.reports import render_customer
    from outbound.services.views.history import customer_report

    with ctx.engine().begin() as conn:
        data = customer_report(conn, customer_id_for(conn, ref))
    emit_json(data) if as_json else click.echo(render_customer(data))


def _consent(
    ctx: Ctx,
    action: ConsentAction,
    ref: str,
    channel: str,
    purpose: str,
    source: str,
    evidence: str,
    written: bool,
) -> None:
    from outbound.services.people.customers import add_consent

    app = ctx.app()
    with app.engine.begin() as conn:
        cid = customer_id_for(conn, ref)
        add_consent(
            conn,
            cid,
            None if channel == "all" else Channel(channel),
            None if purpose == "all" else Purpose(purpose),
            action,
            source=source,
            evidence=evidence,
            actor="cli",
            now=now(),
            written=written,
        )
    click.echo(f"{action.value} recorded for {ref}: channel={channel} purpose={purpose}")


CHANNEL_CHOICE = click.Choice(["all", *[c.value for c in Channel]])
PURPOSE_CHOICE = click.Choice(["all", *[p.value for p in Purpose]])


@click.group()
def consent() -> None:
    """Grant or revoke consent (an append-only ledger with source and evidence).

    \b
    Example:
      outbound consent grant --customer C1001 --channel sms --purpose marketing --evidence "web form v3"
      outbound consent revoke --customer C1001 --channel all --purpose all --source phone
    """


def _at_most(limit: int) -> Callable[[click.Context, click.Parameter, str], str]:
    """The bound the API's consent.changed puts on the same text (the ledger keeps it forever)."""

    def check(_ctx: click.Context, param: click.Parameter, value: str) -> str:
        if len(value) > limit:
            raise click.BadParameter(
                f"is {len(value):,} characters; at most {limit:,}", param=param
            )
        return value

    return check


def _consent_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--customer", "ref", required=True, help="External id (or #internal id)."),
            click.option("--channel", type=CHANNEL_CHOICE, required=True),
            click.option("--purpose", type=PURPOSE_CHOICE, required=True),
            click.option(
                "--source",
                default="operator",
                show_default=True,
                callback=_at_most(200),
                help="Where it came from (web, phone, sms, import).",
            ),
            click.option(
                "--evidence",
                default="",
                callback=_at_most(2000),
                help="Wording version / reference that proves it (at most 2000 characters).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@consent.command("grant")
@_consent_options
@click.option(
    "--written",
    is_flag=True,
    help="Explicit written consent (needed for marketing by voice robot).",
)
@pass_ctx
def consent_grant(
    ctx: Ctx, ref: str, channel: str, purpose: str, source: str, evidence: str, written: bool
) -> None:
    """Record a consent grant.

    \b
    Example:
      outbound consent grant --customer C1001 --channel voice --purpose marketing --written --evidence "signed form 2026-03"
    """
    if not evidence:
        fail(
            "--evidence is required for a grant: name the wording version or document that proves it"
        )
    _consent(ctx, ConsentAction.GRANT, ref, channel, purpose, source, evidence, written)


@consent.command("revoke")
@_consent_options
@pass_ctx
def consent_revoke(
    ctx: Ctx, ref: str, channel: str, purpose: str, source: str, evidence: str
) -> None:
    """Record a revocation; it applies at once to every queued delivery.

    \b
    Example:
      outbound consent revoke --customer C1001 --channel all --purpose marketing --source email
    """
    _consent(
        ctx,
        ConsentAction.REVOKE,
        ref,
        channel,
        purpose,
        source,
        evidence or "revoked by operator",
        False,
    )


@customer.command("forget")
@click.argument("ref")
@click.option("--reason", required=True, help="Why (the request, its ticket); kept in the audit.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_ctx
def customer_forget(ctx: Ctx, ref: str, reason: str, yes: bool, as_json: bool) -> None:
    """Erase a customer's personal data (right to erasure); it cannot be undone.

    Name, phone, push tokens, wishlist, preferences, payloads, sent texts and call transcripts
    are erased; the consent ledger, decisions and outcomes stay without them. The number stays
    suppressed as a keyed hash ([privacy] erasure_key, OUTBOUND_PRIVACY_ERASURE_KEY), so a
    re-import of it is not contacted. The audit chain keeps a pseudonymous record: who, when,
    why.

    \b
    Example:
      OUTBOUND_PRIVACY_ERASURE_KEY=... outbound customer forget C1001 --reason "GDPR request #4711"
    """
    from outbound.domain.pseudonyms import erasure_key
    from outbound.services.people.erasure import forget

    app = ctx.app()
    key = erasure_key(app.settings.privacy.erasure_key.get_secret_value())
    if not yes and not as_json:
        click.confirm(f"erase every personal detail of {ref}? this cannot be undone", abort=True)
    with app.engine.begin() as conn:
        done = forget(
            conn,
            ref,
            key=key,
            reason=reason,
            actor="cli",
            now=now(),
            prompts_dir=app.settings.voice.tts_cache_dir,
        )
    result = {
        "customer_id": done.customer_id,
        "pseudonym": done.pseudonym,
        "already_forgotten": done.already,
        "erased": done.counts,
        "audit_seq": done.audit_seq,
    }
    if as_json:
        emit_json(result)
    elif done.already:
        click.echo(f"{ref} was already forgotten (audit seq {done.audit_seq}); nothing changed")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in done.counts.items() if v)
        click.echo(f"forgot {ref} -> {done.pseudonym} ({counts}); audit seq {done.audit_seq}")
