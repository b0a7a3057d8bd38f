"""The ``outbound`` command line (click). Tables for people, ``--json`` for programs."""

from __future__ import annotations

import json
import logging
import sys

import click

from outbound.cli.audit import audit_group
from outbound.cli.campaigns import campaign
from outbound.cli.context import JSON_OPTION, Ctx, FaultAwareGroup, fail, pass_ctx
from outbound.cli.customers import consent, customer
from outbound.cli.database import db, init
from outbound.cli.output import emit_json
from outbound.cli.providers import providers_group
from outbound.cli.run import demo, serve
from outbound.cli.sources import api_group, source
from outbound.cli.users import user_group
from outbound.cli.voice import call_group, flow_group
from outbound.domain.errors import (
    ConfigError,
    DatabaseUnavailable,
    NotFoundError,
    OutboundError,
    ValidationError,
)
from outbound.domain.masking import configure_logging
from outbound.schemas import numbers
from outbound.services.send import notify


@click.group(cls=FaultAwareGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    oversized = numbers.scan(data, prefix="data")  # NaN, Infinity, 1e999: refused as the API does
    if oversized:
        raise ValidationError(oversized)
    with app.engine.begin() as conn:
        (result,) = notify.notify(
            conn,
            app.send_context(),
            kind=parsed_kind,
            customer_ref=ref,
            payload=payload,
            source="cli",
            actor="cli",
        )
    from outbound.domain.records import decision_words

    out = {
        "notification_id": result.notification_id,
        "created": result.created,
        "dedupe_key": result.dedupe_key,
        "decision": decision_words(result.decision) if result.decision else None,
    }
    if as_json:
        emit_json(out)
        return
    verb = "created" if result.created else "already exists (duplicate event, nothing new sent)"
    click.echo(f"notification {result.notification_id} {verb}")
    click.echo(f"explain it: outbound why {result.notification_id}")


@cli.command()
@click.argument("notification_id", type=click.IntRange(1, 2**63 - 1))
@JSON_OPTION
@pass_ctx
def why(ctx: Ctx, notification_id: int, as_json: bool) -> None:
    """Why was (or wasn't) this notification sent? The decision trace in plain words.

    \b
    Example:
      outbound why 42
    """
    from outbound.cli.reports import explain
    from outbound.services.views.history import notification_report

    with ctx.app().engine.begin() as conn:
        data = notification_report(conn, notification_id)
    emit_json(data) if as_json else click.echo(explain(data))


# --- audit ---------------------------------------------------------------------------------


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
    except DatabaseUnavailable as exc:
        fail(str(exc), 5)
    except OutboundError as exc:
        fail(str(exc), 1)


cli.add_command(init)
cli.add_command(db)
cli.add_command(audit_group)
cli.add_command(serve)
cli.add_command(demo)
cli.add_command(campaign)
cli.add_command(customer)
cli.add_command(consent)
cli.add_command(flow_group)
cli.add_command(call_group)
cli.add_command(source)
cli.add_command(api_group)
cli.add_command(user_group)
cli.add_command(providers_group)
