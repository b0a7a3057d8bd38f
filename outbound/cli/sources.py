"""``outbound source …`` (webhook senders and their secrets) and ``outbound api …``."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from outbound.api.signing import new_secret
from outbound.cli.context import JSON_OPTION, Ctx, now, pass_ctx
from outbound.cli.output import emit_json, table
from outbound.services.intake import sources as source_service


@click.group()
def source() -> None:
    """Systems allowed to call the webhook API, with their signing secrets.

    \b
    Example:
      outbound source add shop-eu --events shipping.dispatched,customer.upserted --rate 200
      outbound source rotate shop-eu --keep-old-hours 24
    """


@source.command("add")
@click.argument("name")
@click.option(
    "--events",
    default=",".join(source_service.EVENT_TYPES),
    show_default=True,
    help="Comma-separated event types this source may send.",
)
@click.option("--rate", default=100, show_default=True, help="Requests per second (bursts of 2 s).")
@pass_ctx
def add(ctx: Ctx, name: str, events: str, rate: int) -> None:
    """Register a source and print its signing secret ONCE (it is never logged).

    \b
    Example:
      outbound source add shop-eu --events shipping.dispatched,price.dropped
    """
    secret = new_secret()
    with ctx.app().engine.begin() as conn:
        source_service.add_source(
            conn,
            name,
            [e.strip() for e in events.split(",") if e.strip()],
            rate,
            secret=secret,
            now=now(),
            actor="cli",
        )
    click.echo(f"source {name!r} created. Its signing secret (shown once, store it now):\n{secret}")


@source.command("list")
@JSON_OPTION
@pass_ctx
def list_(ctx: Ctx, as_json: bool) -> None:
    """Sources with their allowed events and how many secrets are live (never the secrets).

    \b
    Example:
      outbound source list --json
    """
    with ctx.app().engine.begin() as conn:
        data = source_service.list_sources(conn, now())
    if as_json:
        emit_json(data)
    else:
        click.echo(
            table(
                ["name", "events", "rate/s", "live secrets"],
                [
                    [d["name"], ",".join(d["events"]), d["rate_per_second"], d["live_secrets"]]
                    for d in data
                ],
            )
        )


#: the longest an old secret may keep working after a rotation
MAX_KEEP_HOURS = 24 * 366


def _keep_hours(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0 <= value <= MAX_KEEP_HOURS:  # NaN fails both comparisons too
        raise click.BadParameter(
            f"{value:g} hours is outside 0 (revoke the old secrets now) to {MAX_KEEP_HOURS} "
            "(a year); give for example 24",
            ctx,
            param,
        )
    return value


@source.command("rotate")
@click.argument("name")
@click.option(
    "--keep-old-hours",
    type=float,
    callback=_keep_hours,
    default=24.0,
    show_default=True,
    help="How long the current secrets stay valid so the sender can switch: 0 (revoke them "
    f"now) to {MAX_KEEP_HOURS} (a year).",
)
@pass_ctx
def rotate(ctx: Ctx, name: str, keep_old_hours: float) -> None:
    """Issue a new secret; old ones keep working for --keep-old-hours.

    \b
    Example:
      outbound source rotate shop-eu --keep-old-hours 1
    """
    secret = new_secret()
    with ctx.app().engine.begin() as conn:
        source_service.rotate(
            conn, name, timedelta(hours=keep_old_hours), secret=secret, now=now(), actor="cli"
        )
    click.echo(
        f"new secret for {name!r} (shown once):\n{secret}\nold secrets expire in {keep_old_hours:g} h"
    )


@click.group("api")
def api_group() -> None:
    """The HTTP API.

    \b
    Example:
      outbound api openapi > openapi.json
    """


@api_group.command("openapi")
@pass_ctx
def openapi(ctx: Ctx) -> None:
    """Print the OpenAPI document (every status code the API can return is declared).

    \b
    Example:
      outbound api openapi > openapi.json
    """
    from outbound.api.app import create_app
    from outbound.mains.serve import api_deps

    deps = api_deps(ctx.app(check_schema=False))
    click.echo(json.dumps(create_app(deps).openapi(), indent=2))
