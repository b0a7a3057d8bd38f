"""``outbound providers check``: are the SMS providers' credentials accepted, where do they call
back, which route does a country take."""

from __future__ import annotations

from typing import Any

import click

from outbound.cli.context import JSON_OPTION, Ctx, pass_ctx
from outbound.cli.output import emit_json, table


@click.group("providers")
def providers_group() -> None:
    """The SMS providers of ``[sms] adapter`` / ``[sms] routes``.

    \b
    Example:
      OUTBOUND_TWILIO_AUTH_TOKEN=… outbound providers check
    """


@providers_group.command("check")
@JSON_OPTION
@pass_ctx
def check(ctx: Ctx, as_json: bool) -> None:
    """Per provider: credentials accepted or not (one cheap authenticated request, e.g.
    Twilio's Account resource), its callback URLs, and the route table. Never shows a secret.

    \b
    Example:
      outbound providers check --json
    """
    from outbound.bootstrap.sms import provider_report

    app = ctx.app()
    report = provider_report(app.settings, app.engine, app.rules, app.ladder, app.clock)
    if as_json:
        emit_json(report)
        return
    rows: list[list[Any]] = []
    for entry in report["providers"]:  # type: ignore[attr-defined]
        callbacks = entry.get("callbacks") or {}
        rows.append(
            [
                entry["provider"],
                entry["credentials"],
                "\n".join(f"{k}: {v}" for k, v in callbacks.items()),
            ]
        )
    click.echo(table(["provider", "credentials", "callbacks"], rows))
    routes = report["routes"]
    senders = report["sender_ids"]
    click.echo(
        table(
            ["calling code", "providers in order", "sender id"],
            [
                [code, ", ".join(names), senders.get(code, "")]  # type: ignore[attr-defined]
                for code, names in routes.items()  # type: ignore[attr-defined]
            ],
        )
    )


@providers_group.command("lint")
@pass_ctx
def lint(ctx: Ctx) -> None:
    """Refuse a configuration Aliyun could not send: a kind without an ``[aliyun] templates``
    entry (China sends approved templates only). Exit status 1 when a problem is found.

    \b
    Example:
      outbound providers lint
    """
    from outbound.bootstrap.sms import template_problems

    problems = template_problems(ctx.settings())
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo("providers: every kind has what its providers need")
