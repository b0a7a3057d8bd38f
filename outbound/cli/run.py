"""``outbound serve`` and ``outbound demo``: the long-running service and the watched demo."""

from __future__ import annotations

import logging
import shlex
import signal
import threading
from pathlib import Path
from typing import Any

import click

from outbound.bootstrap import App
from outbound.cli.context import JSON_OPTION, Ctx, pass_ctx
from outbound.cli.output import emit_json, table
from outbound.config.audit_key import HINT
from outbound.domain.errors import ConfigError
from outbound.services import storage

log = logging.getLogger("outbound.serve")


@click.command()
@click.option(
    "--role",
    type=click.Choice(["all", "api", "worker", "scheduler", "dialer", "webhooks"]),
    default="all",
    show_default=True,
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    help="Worker threads, 1-256 (default from [worker] threads).",
)
@click.option("--until-idle", is_flag=True, help="Exit when nothing is due (batch jobs, tests).")
@click.option("--host", help="API bind address (default from [api] host).")
@click.option("--port", type=click.IntRange(0, 65_535), help="API port (default from [api] port).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="API processes on the one port (PostgreSQL only).",
)
@pass_ctx
def serve(
    ctx: Ctx,
    role: str,
    threads: int | None,
    until_idle: bool,
    host: str | None,
    port: int | None,
    workers: int,
) -> None:
    """Run the service: HTTP API, scheduler (leader-elected) and dispatch workers.

    Refuses an unmigrated or newer-schema database. Stops cleanly on SIGTERM / Ctrl-C.

    \b
    Example:
      outbound serve                       # everything, embedded SQLite, API on 127.0.0.1:8080
      outbound --db postgresql://… serve --role worker --threads 4
      outbound --db postgresql://… serve --role api --host 0.0.0.0 --port 8080 --workers 4
    """
    from outbound.mains.serve import Service

    _refuse_unused(role, {"--threads": threads, "--host": host, "--port": port})
    app = ctx.app()
    service = Service(
        app,
        role=role,
        threads=threads,
        until_idle=until_idle,
        host=host,
        port=port,
        workers=workers,
    )
    try:
        service.check()
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from None
    from outbound.cli.templates import announce

    if role in ("all", "worker", "api"):
        app.check_templates()  # a broken template: refuse to start (ConfigError, exit 4)
    signal.signal(signal.SIGTERM, lambda *_: service.stop.set())
    signal.signal(signal.SIGHUP, lambda *_: _reload_templates(app))
    note = announce(app.templates().directory)  # for `outbound templates reload`
    if role in ("all", "dialer") and app.settings.voice.dialers > 0:
        _warn_uncached_prompts(ctx)
    click.echo(f"outbound serving: {service.describe()}", err=True)
    if app.audit_key is None:
        skipped = "; no checkpoints written" if app.settings.audit.checkpoint_to else ""
        click.echo(f"warning: audit chain not anchored (no audit key{skipped}); {HINT}", err=True)
    try:
        service.run()
    except KeyboardInterrupt:
        service.stop.set()
    finally:
        service.shutdown()
        note.unlink(missing_ok=True)
        app.close()  # the adapters' connections and sessions (aiohttp's would warn at exit)


def _warm_sizes(app: App) -> None:
    """Measure the templates in use once now (``services.templates.sizes.warm``), so that the
    first event after a reload renders nothing to check its size (``api_server`` does it at
    start)."""
    from outbound.services.templates.sizes import warm

    warm(app.limits)


def _reload_templates(app: App) -> None:
    """SIGHUP: read the templates again in a thread (never inside the signal handler's
    frame); a set with a problem is refused and the one in use stays."""

    def reload() -> None:
        try:
            fresh = app.reload_templates()
        except ConfigError as exc:
            log.error("templates not reloaded: %s", exc)
            return
        log.warning("templates reloaded from %s (%d files)", fresh.directory, len(fresh.files))
        _warm_sizes(app)

    threading.Thread(target=reload, name="templates-reload", daemon=True).start()


#: serve's options and the roles that use them (--workers is checked by the service)
ROLES_USING = {
    "--threads": ("all", "worker"),
    "--host": ("all", "api"),
    "--port": ("all", "api"),
}


def _refuse_unused(role: str, given: dict[str, object]) -> None:
    """An option the role ignores is a usage error naming both, never silently dropped."""
    for option, value in given.items():
        if value is not None and role not in ROLES_USING[option]:
            users = " or ".join(ROLES_USING[option])
            raise click.UsageError(
                f"{option} is not used by --role {role} (only by --role {users}); "
                f"drop {option} or run the role that uses it"
            )


def _warn_uncached_prompts(ctx: Ctx) -> None:
    """A flow prompt not in the TTS cache makes a customer wait for synthesis after "hello"."""
    from outbound.cli.voice import prompt_sources
    from outbound.voice.prerender import render_flows

    report = render_flows(*prompt_sources(ctx.settings()), check=True)
    if report.missing:
        click.echo(
            f"warning: {len(report.missing)} voice prompts are not in the TTS cache "
            f"(e.g. {report.missing[0]}); run `outbound flow render` before calls start",
            err=True,
        )


@click.command()
@click.option(
    "--file",
    "path",
    default="outbound-demo.db",
    show_default=True,
    help="SQLite file to (re)create for the demo; the global --db sqlite:///FILE names it too.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace --file even when it is not a database an earlier demo made.",
)
@click.option(
    "--log-channel",
    is_flag=True,
    help="Send SMS and push to the embedded log channel even when the loopback peers can run.",
)
@JSON_OPTION
@pass_ctx
def demo(ctx: Ctx, path: str, force: bool, log_channel: bool, as_json: bool) -> None:
    """Watch it work: ~50 customers in 10 time zones, all three kinds, on a fresh SQLite file.

    Shipping and price-drop events go through the webhook trigger path, renewals through a
    campaign fired by the scheduler, and in-process workers send through policy, caps and the
    fallback ladder. SMS go over SMPP to a loopback SMSC (outbound/testing/smsc_js/smsc.js, npm smpp) when
    node and outbound/testing/smsc_js/node_modules are installed, push to loopback Web Push / FCM services;
    otherwise to the embedded log channel with scripted outcomes. Voice: the real dialer process
    calls loopback callee processes over SIP on 127.0.0.1 (one says yes, one presses 9, one asks
    for an agent and is transferred, one is an answering machine, one never answers). Some SMS
    bounce, some push subscriptions are gone. Prints which providers and speech engines were
    used, what was sent, deferred (quiet hours) and suppressed, each live call, and why.

    The file is replaced only when it is missing or an earlier demo made it (or with --force):
    a database of yours is never overwritten by mistake.

    \b
    Example:
      outbound demo
      outbound demo --file /tmp/demo.db
      outbound --db sqlite:///outbound-demo.db why 3
    """
    from outbound.demo.run import run_demo
    from outbound.mains.serve import api_server

    target = _demo_target(ctx, path)
    if storage.demo_file_state(target) == "other" and not force:
        raise click.BadParameter(
            f"{str(target)!r} exists and is not a database an earlier demo made; the demo "
            "would replace it. Give another --file, or add --force to replace it",
            param_hint="--file",
        )
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    storage.stamp_demo_file(target)
    ctx.db = f"sqlite:///{target}"
    storage.upgrade(ctx.db)
    say = (lambda _m: None) if as_json else (lambda m: click.echo(f"- {m}"))
    result = run_demo(ctx.app(), say, use_peers=not log_channel, api_server=api_server)
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
                "calls": result.calls,
            }
        )
        return
    _print_demo(result, ctx.db)


def _demo_target(ctx: Ctx, path: str) -> Path:
    """The demo's file: ``--file``, or the global ``--db sqlite:///FILE`` (honoured); a
    ``--db`` naming another file than ``--file``, or not SQLite, is refused. The configured
    database (OUTBOUND_DATABASE_URL, outbound.toml) is never the demo's: it is said so."""
    here = click.get_current_context()
    root = here.find_root()
    if not ctx.db or root.get_parameter_source("db") is not click.core.ParameterSource.COMMANDLINE:
        if ctx.db:
            click.echo(
                f"note: the demo writes its own file {path}; OUTBOUND_DATABASE_URL is not used "
                "(give --db sqlite:///FILE or --file FILE to choose the file)",
                err=True,
            )
        return Path(path)
    given = here.get_parameter_source("path")
    prefix = "sqlite:///"
    db_file = ctx.db[len(prefix) :] if ctx.db.startswith(prefix) else ""
    if not db_file or db_file.startswith(":memory:"):
        raise click.UsageError(
            f"the demo makes a fresh SQLite file and cannot use --db {storage.safe_url(ctx.db)}; "
            "drop --db, or give --db sqlite:///FILE (or --file FILE)"
        )
    if given is click.core.ParameterSource.COMMANDLINE and Path(db_file) != Path(path):
        raise click.UsageError(
            f"--db names {db_file!r} but --file names {path!r}; give one of them"
        )
    return Path(db_file)


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
    if result.calls:
        cols = ["customer", "phone", "callee", "outcome", "intent", "transcript", "confidence"]
        cols += ["amd", "opted_out"]
        rows = [["-" if c[k] is None else c[k] for k in cols] for c in result.calls]
        click.echo(table(cols, rows, title="\nLive calls (dialer process -> loopback callees)"))
    click.echo(
        f"\n{result.customers} customers, {result.notifications} notifications, "
        f"{result.audit_events} audit events (chain verified) in {result.seconds:.1f}s"
    )
    example, db = result.why_example or 1, shlex.quote(db_url)
    click.echo(f"\nTry:  outbound --db {db} why {example}")
    click.echo(f"      outbound --db {db} customer show C1004")
    click.echo(f"      outbound --db {db} audit verify")
