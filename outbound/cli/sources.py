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
      printf %s "$SHOPIFY_CLIENT_SECRET" | outbound source add myshop --kind shopify \
          --secret-stdin --currency EUR --shop-url https://myshop.example
    """


def _secret(kind: str, from_stdin: bool) -> str | None:
    """The pasted secret (stdin), a new one for a standard source, or None (print it)."""
    if from_stdin:
        return click.get_text_stream("stdin").read()
    if kind != "standard":
        raise click.UsageError(
            f"a {kind} source signs with the platform's secret: pipe it in with --secret-stdin "
            f'(e.g. printf %s "$SECRET" | outbound source add NAME --kind {kind} --secret-stdin ...)'
        )
    return None


@source.command("add")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(source_service.KINDS),
    default="standard",
    show_default=True,
    help="standard: our events signed per Standard Webhooks (POST /v1/events); shopify or "
    "woocommerce: the platform's own webhooks (POST /v1/integrations/KIND/NAME).",
)
@click.option(
    "--events",
    default=None,
    help="Comma-separated event types a standard source may send [default: all of "
    + ",".join(source_service.EVENT_TYPES)
    + "].",
)
@click.option("--rate", default=100, show_default=True, help="Requests per second (bursts of 2 s).")
@click.option(
    "--secret-stdin",
    is_flag=True,
    help="Read the signing secret from stdin (required for shopify: the app's client secret; "
    "woocommerce: the webhook's secret) instead of making one. Never echoed or logged.",
)
@click.option(
    "--currency", default=None, help="shopify/woocommerce: the shop's currency, e.g. EUR."
)
@click.option(
    "--shop-url", default=None, help="shopify/woocommerce: e.g. https://shop.example (links)."
)
@pass_ctx
def add(
    ctx: Ctx,
    name: str,
    kind: str,
    events: str | None,
    rate: int,
    secret_stdin: bool,
    currency: str | None,
    shop_url: str | None,
) -> None:
    """Register a source; a made secret is printed ONCE (it is never logged).

    \b
    Example:
      outbound source add shop-eu --events shipping.dispatched,price.dropped
      printf %s "$WC_WEBHOOK_SECRET" | outbound source add woo --kind woocommerce \
          --secret-stdin --currency EUR --shop-url https://woo.example
    """
    pasted = _secret(kind, secret_stdin)
    secret = pasted if pasted is not None else new_secret()
    if events is None:
        events = ",".join(source_service.EVENT_TYPES) if kind == "standard" else ""
    shop = source_service.Shop(kind, currency and currency.upper(), shop_url)
    with ctx.app().engine.begin() as conn:
        source_service.add_source(
            conn,
            name,
            [e.strip() for e in events.split(",") if e.strip()],
            rate,
            secret=secret,
            now=now(),
            actor="cli",
            shop=shop,
        )
    if pasted is not None:
        where = "/v1/events" if kind == "standard" else f"/v1/integrations/{kind}/{name}"
        click.echo(f"source {name!r} ({kind}) created with the secret given; it posts to {where}")
        return
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
                ["name", "kind", "events", "rate/s", "live secrets"],
                [
                    [
                        d["name"],
                        d["kind"],
                        ",".join(d["events"]) or "-",
                        d["rate_per_second"],
                        d["live_secrets"],
                    ]
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
@click.option(
    "--secret-stdin",
    is_flag=True,
    help="Read the new secret from stdin (a shop platform's new secret) instead of making one.",
)
@pass_ctx
def rotate(ctx: Ctx, name: str, keep_old_hours: float, secret_stdin: bool) -> None:
    """Issue a new secret (or take the platform's); old ones keep working for --keep-old-hours.

    \b
    Example:
      outbound source rotate shop-eu --keep-old-hours 1
      printf %s "$NEW_CLIENT_SECRET" | outbound source rotate myshop --secret-stdin
    """
    with ctx.app().engine.begin() as conn:
        kind = next(
            (s["kind"] for s in source_service.list_sources(conn, now()) if s["name"] == name),
            "standard",
        )
    pasted = _secret(kind, secret_stdin)  # a platform's source takes the platform's new secret
    secret = pasted if pasted is not None else new_secret()
    with ctx.app().engine.begin() as conn:
        source_service.rotate(
            conn, name, timedelta(hours=keep_old_hours), secret=secret, now=now(), actor="cli"
        )
    if pasted is not None:
        click.echo(f"secret for {name!r} replaced; old secrets expire in {keep_old_hours:g} h")
        return
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
