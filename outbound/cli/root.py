"""The ``outbound`` command line (click). Tables for people, ``--json`` for programs."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from outbound.cli.campaigns import campaign
from outbound.cli.context import JSON_OPTION, Ctx, fail, now, pass_ctx
from outbound.cli.customers import consent, customer
from outbound.cli.output import emit_json, table
from outbound.cli.sources import api_group, source
from outbound.cli.voice import call_group, flow_group
from outbound.config import find_config_dir
from outbound.domain.errors import ConfigError, NotFoundError, OutboundError, ValidationError
from outbound.domain.masking import configure_logging
from outbound.services import notify
from outbound.store import audit
from outbound.store.db import make_engine, make_url_safe, upgrade


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db", envvar="OUTBOUND_DATABASE_URL", help="Database URL (default sqlite:///outbound.db)."
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False),
    help="Directory with outbound.toml and policies.toml.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config_dir: str | None, verbose: int) -> None:
    """Outbound notifications (shipping, renewal, price drop) by push, SMS or voice robot.

    \b
    Example:
      outbound init && outbound customer import customers.csv
      outbound send shipping --customer C1001 --data '{"order_id":"A1","carrier":"DHL","tracking_no":"T9","eta":"2026-12-01"}'
      outbound serve
    """
    level = logging.WARNING - 10 * verbose
    configure_logging(max(level, logging.DEBUG))
    ctx.obj = Ctx(db, config_dir)


# --- setup ------------------------------------------------------------------------------


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite existing config files.")
@pass_ctx
def init(ctx: Ctx, force: bool) -> None:
    """Create ./config (outbound.toml, policies.toml) and an up-to-date database.

    \b
    Example:
      outbound init            # ./config and ./outbound.db
      outbound --db postgresql://outbound@127.0.0.1/outbound init
    """
    source = find_config_dir(ctx.config_dir)
    target = Path("config")
    target.mkdir(exist_ok=True)
    for name in ("outbound.toml", "policies.toml"):
        if source.resolve() != target.resolve() and (force or not (target / name).exists()):
            shutil.copyfile(source / name, target / name)
    settings = ctx.settings()
    engine = make_engine(settings.database_url)
    before, after = upgrade(engine)
    click.echo(
        f"config in {target.resolve()}; database {make_url_safe(settings.database_url)} at schema {after} (was {before or 'empty'})"
    )


@cli.group()
def db() -> None:
    """Database schema management.

    \b
    Example:
      outbound db upgrade
      outbound --db postgresql://outbound@127.0.0.1:5432/outbound db status
    """


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Ctx) -> None:
    """Migrate the database to the schema this version needs.

    \b
    Example:
      outbound --db sqlite:///outbound.db db upgrade
    """
    settings = ctx.settings()
    before, after = upgrade(make_engine(settings.database_url))
    click.echo(f"{make_url_safe(settings.database_url)}: schema {before or 'empty'} -> {after}")


@db.command("status")
@JSON_OPTION
@pass_ctx
def db_status(ctx: Ctx, as_json: bool) -> None:
    """Show the database's schema revision and whether it is current.

    \b
    Example:
      outbound db status --json
    """
    from outbound.store.db import current_revision, head_revision

    settings = ctx.settings()
    current, head = current_revision(make_engine(settings.database_url)), head_revision()
    data = {
        "database": make_url_safe(settings.database_url),
        "current": current,
        "head": head,
        "ok": current == head,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(table(["database", "current", "head", "ok"], [list(data.values())]))


# --- notifications -------------------------------------------------------------------------


@cli.command()
@click.argument("kind")
@click.option("--customer", "ref", required=True, help="External id (or #internal id).")
@click.option("--data", required=True, help="Payload as a JSON object.")
@JSON_OPTION
@pass_ctx
def send(ctx: Ctx, kind: str, ref: str, data: str, as_json: bool) -> None:
    """Trigger one notification through the same path as the webhooks.

    \b
    Kinds and payloads:
      shipping    order_id, carrier, tracking_no, eta (YYYY-MM-DD)[, shipment_id]
      renewal     tier, expires_on (YYYY-MM-DD), renew_url
      price_drop  sku, title, old_price, new_price, currency, url
    \b
    Example:
      outbound send shipping --customer C1001 --data '{"order_id":"A1","carrier":"DHL","tracking_no":"T9","eta":"2026-12-01"}'
    """
    app = ctx.app()
    parsed_kind = notify.parse_kind(kind)
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f'--data is not JSON ({exc.msg} at column {exc.colno}); expected an object like \'{{"order_id": "A1"}}\''
        ) from None
    stamp = now()
    with app.engine.begin() as conn:
        (result,) = notify.notify(
            conn,
            kind=parsed_kind,
            customer_ref=ref,
            payload=payload,
            source="cli",
            actor="cli",
            now=stamp,
            rules=app.rules,
            expiry=app.expiry,
        )
    from outbound.domain.values import decision_to_json

    out = {
        "notification_id": result.notification_id,
        "created": result.created,
        "dedupe_key": result.dedupe_key,
        "decision": decision_to_json(result.decision) if result.decision else None,
    }
    if as_json:
        emit_json(out)
        return
    verb = "created" if result.created else "already exists (duplicate event, nothing new sent)"
    click.echo(f"notification {result.notification_id} {verb}")
    click.echo(f"explain it: outbound why {result.notification_id}")


@cli.command()
@click.argument("notification_id", type=int)
@JSON_OPTION
@pass_ctx
def why(ctx: Ctx, notification_id: int, as_json: bool) -> None:
    """Why was (or wasn't) this notification sent? The decision trace in plain words.

    \b
    Example:
      outbound why 42
    """
    from outbound.cli.reports import explain
    from outbound.services.reports import notification_report

    with ctx.app().engine.begin() as conn:
        data = notification_report(conn, notification_id)
    emit_json(data) if as_json else click.echo(explain(data))


# --- audit ---------------------------------------------------------------------------------


@cli.group("audit")
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
            "data": json.loads(r.data),
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


@cli.command()
@click.option(
    "--role",
    type=click.Choice(["all", "api", "worker", "scheduler", "dialer"]),
    default="all",
    show_default=True,
)
@click.option("--threads", type=int, help="Worker threads (default from [worker] threads).")
@click.option("--until-idle", is_flag=True, help="Exit when nothing is due (batch jobs, tests).")
@click.option("--host", help="API bind address (default from [api] host).")
@click.option("--port", type=int, help="API port (default from [api] port).")
@pass_ctx
def serve(
    ctx: Ctx, role: str, threads: int | None, until_idle: bool, host: str | None, port: int | None
) -> None:
    """Run the service: HTTP API, scheduler (leader-elected) and dispatch workers.

    Refuses an unmigrated or newer-schema database. Stops cleanly on SIGTERM / Ctrl-C.

    \b
    Example:
      outbound serve                       # everything, embedded SQLite, API on 127.0.0.1:8080
      outbound --db postgresql://… serve --role worker --threads 4
      outbound --db postgresql://… serve --role api --host 0.0.0.0 --port 8080
    """
    from outbound.bootstrap.service import Service

    app = ctx.app()
    service = Service(app, role=role, threads=threads, until_idle=until_idle, host=host, port=port)
    signal.signal(signal.SIGTERM, lambda *_: service.stop.set())
    click.echo(f"outbound serving: {service.describe()}", err=True)
    try:
        service.run()
    except KeyboardInterrupt:
        service.stop.set()
    finally:
        service.shutdown()


@cli.command()
@click.option(
    "--file",
    "path",
    default="outbound-demo.db",
    show_default=True,
    help="SQLite file to (re)create for the demo.",
)
@click.option(
    "--log-channel",
    is_flag=True,
    help="Send SMS and push to the embedded log channel even when the loopback peers can run.",
)
@JSON_OPTION
@pass_ctx
def demo(ctx: Ctx, path: str, log_channel: bool, as_json: bool) -> None:
    """Watch it work: ~50 customers in 10 time zones, all three kinds, on a fresh SQLite file.

    Shipping and price-drop events go through the webhook trigger path, renewals through a
    campaign fired by the scheduler, and in-process workers send through policy, caps and the
    fallback ladder. SMS go over SMPP to a loopback SMSC (outbound/testing/smsc_js/smsc.js, npm smpp) when
    node and outbound/testing/smsc_js/node_modules are installed, push to loopback Web Push / FCM services;
    otherwise (and for voice) to the embedded log channel with scripted outcomes. Some SMS
    bounce, some push subscriptions are gone, some calls go unanswered. Prints which providers
    were used, what was sent, deferred (quiet hours) and suppressed, and why.

    \b
    Example:
      outbound demo
      outbound --db sqlite:///outbound-demo.db why 3
    """
    from outbound.demo.run import run_demo

    target = Path(path)
    for leftover in (target, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    ctx.db = f"sqlite:///{target}"
    upgrade(make_engine(ctx.db))
    say = (lambda _m: None) if as_json else (lambda m: click.echo(f"- {m}"))
    result = run_demo(ctx.app(), say, use_peers=not log_channel)
    if as_json:
        emit_json(
            {
                "providers": result.providers,
                "customers": result.customers,
                "notifications": result.notifications,
                "sent": {f"{c}:{o}": n for (c, o), n in result.summary["sent"].items()},
                "deferred": {c: len(v) for c, v in result.summary["deferred"].items()},
                "suppressed": dict(result.summary["suppressed"]),
                "fallbacks": dict(result.summary["fallbacks"]),
                "why_example": result.why_example,
                "audit_events": result.audit_events,
                "seconds": round(result.seconds, 1),
            }
        )
        return
    _print_demo(result, ctx.db)


def _print_demo(result: Any, db_url: str) -> None:
    s = result.summary
    click.echo(
        table(
            ["channel", "outcome", "count"],
            [[c, o, n] for (c, o), n in sorted(s["sent"].items())],
            title="\nSent (one row per provider outcome)",
        )
    )
    click.echo(
        table(
            ["channel", "count", "first resume (UTC)", "last resume (UTC)"],
            [[c, len(v), min(v), max(v)] for c, v in sorted(s["deferred"].items())],
            title="\nDeferred (quiet hours in the customer's local time, caps, voice retry)",
        )
    )
    click.echo(
        table(
            ["count", "reason"],
            [[n, r if len(r) <= 110 else r[:109] + "…"] for r, n in s["suppressed"].most_common()],
            title="\nSuppressed (never sent)",
        )
    )
    click.echo(
        table(
            ["count", "fallback taken"],
            [[n, f] for f, n in sorted(s["fallbacks"].items())],
            title="\nFallbacks (ladder moved to the next channel)",
        )
    )
    click.echo(
        f"\n{result.customers} customers, {result.notifications} notifications, "
        f"{result.audit_events} audit events (chain verified) in {result.seconds:.1f}s"
    )
    example = result.why_example or 1
    click.echo(f"\nTry:  outbound --db {db_url} why {example}")
    click.echo(f"      outbound --db {db_url} customer show C1004")
    click.echo(f"      outbound --db {db_url} audit verify")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        fail(f"invalid input: {exc}")
    except NotFoundError as exc:
        fail(str(exc), 3)
    except ConfigError as exc:
        fail(str(exc), 4)
    except OutboundError as exc:
        fail(str(exc), 1)


cli.add_command(campaign)
cli.add_command(customer)
cli.add_command(consent)
cli.add_command(flow_group)
cli.add_command(call_group)
cli.add_command(source)
cli.add_command(api_group)
