"""``outbound init`` and ``outbound db``: config files and the database schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from outbound.cli.context import JSON_OPTION, Ctx, pass_ctx
from outbound.cli.output import emit_json, table
from outbound.config import find_config_dir
from outbound.config.audit_key import KEY_FILE_NAME, create_key_file
from outbound.defaults import default_dir
from outbound.services import storage


@click.command()
@click.option("--force", is_flag=True, help="Overwrite existing config and flow files.")
@pass_ctx
def init(ctx: Ctx, force: bool) -> None:
    """Create ./config (outbound.toml, policies.toml, audit.key), ./voice_flows, ./templates
    (SMS and push texts per kind and locale) and an up-to-date database.

    The files are copies of the shipped defaults (or of --config-dir); existing ones are kept
    unless --force. The audit key (HMAC key of the audit chain) is written once, never
    overwritten, and is not created when OUTBOUND_AUDIT_KEY is set.

    \b
    Example:
      outbound init            # ./config, ./voice_flows, ./templates and ./outbound.db
      outbound --db postgresql://outbound@127.0.0.1/outbound init
    """
    source = find_config_dir(ctx.config_dir)
    target = Path("config")
    _copy_defaults([source / "outbound.toml", source / "policies.toml"], target, force)
    _copy_defaults(sorted(default_dir("voice_flows").glob("*.yaml")), Path("voice_flows"), force)
    shipped = default_dir("templates")
    for folder in sorted(p for p in shipped.iterdir() if p.is_dir()):
        _copy_defaults(sorted(folder.glob("*.j2")), Path("templates") / folder.name, force)
    _copy_defaults(sorted(shipped.glob("*.*")), Path("templates"), force)
    settings = ctx.settings()
    before, after = storage.upgrade(settings.database_url)
    shown = storage.safe_url(settings.database_url)
    click.echo(
        f"config in {target.resolve()}; database {shown} at schema {after} (was {before or 'empty'})"
    )
    if not settings.audit.key.get_secret_value():
        # beside the config just written, not in the folder it was copied from (--config-dir)
        path = Path(settings.audit.key_file) if settings.audit.key_file else target / KEY_FILE_NAME
        if create_key_file(path):
            click.echo(
                f"audit key written to {path.resolve()} (mode 0600): keep it off the database "
                "host's backups; without it the audit chain cannot be checked"
            )


def _copy_defaults(sources: list[Path], target: Path, force: bool) -> None:
    """Copy each file into ``target`` unless it is there already (or is the same file)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        destination = target / source.name
        if source.resolve() != destination.resolve() and (force or not destination.exists()):
            shutil.copyfile(source, destination)


@click.group()
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
    before, after = storage.upgrade(settings.database_url)
    click.echo(f"{storage.safe_url(settings.database_url)}: schema {before or 'empty'} -> {after}")


@db.command("status")
@JSON_OPTION
@pass_ctx
def db_status(ctx: Ctx, as_json: bool) -> None:
    """Show the database's schema revision and whether it is current.

    \b
    Example:
      outbound db status --json
    """
    settings = ctx.settings()
    current, head = storage.revisions(settings.database_url)
    data = {
        "database": storage.safe_url(settings.database_url),
        "current": current,
        "head": head,
        "ok": current == head,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(table(["database", "current", "head", "ok"], [list(data.values())]))


# --- notifications -------------------------------------------------------------------------
