"""``outbound user …``: the accounts that sign in to the compliance console (/console)."""

from __future__ import annotations

import sys

import click

from outbound.cli.context import JSON_OPTION, Ctx, now, pass_ctx
from outbound.cli.output import emit_json, table
from outbound.services.people import accounts


@click.group("user")
def user_group() -> None:
    """Console accounts: compliance staff read, operators may also pause and resume campaigns.

    \b
    Example:
      outbound user add alice --role compliance
      outbound user list
      outbound user disable alice
      outbound user enable alice
      outbound user unlock alice
      outbound user passwd alice
    """


def _password(prompt: bool, from_stdin: bool) -> tuple[str, bool]:
    """The password to set and whether it was generated (then it is shown once)."""
    if from_stdin:
        text = sys.stdin.readline().rstrip("\r\n")
        return accounts.check_password(text), False
    if prompt:
        text = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return accounts.check_password(text), False
    return accounts.generate_password(), True


@user_group.command("add")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(accounts.ROLES),
    help="compliance (reads) or operator (reads, pauses and resumes campaigns).",
)
@click.option("--prompt", "ask", is_flag=True, help="Type the password (asked twice, hidden).")
@click.option(
    "--password-stdin", "from_stdin", is_flag=True, help="Read the password from standard input."
)
@JSON_OPTION
@pass_ctx
def user_add(ctx: Ctx, name: str, role: str, ask: bool, from_stdin: bool, as_json: bool) -> None:
    """Create a console account. Without --prompt or --password-stdin a password is generated
    and shown once; only its argon2 hash is stored.

    \b
    Example:
      outbound user add alice --role compliance
      outbound user add bob --role operator --prompt
      printf '%s\\n' "$PASSWORD" | outbound user add carol --role compliance --password-stdin
    """
    if ask and from_stdin:
        raise click.UsageError("give --prompt or --password-stdin, not both")
    accounts.check_name(name)
    password, generated = _password(ask, from_stdin)
    with ctx.app().engine.begin() as conn:
        uid = accounts.add_user(conn, name, role, password, now=now(), actor="cli")
    if as_json:
        emit_json(
            {"id": uid, "name": name, "role": role, "password": password if generated else None}
        )
        return
    click.echo(f"console user {name!r} ({role}) created")
    if generated:
        click.echo(f"password (shown once, store it now): {password}")
    port = ctx.settings().api.port
    click.echo(f"sign in at http://127.0.0.1:{port}/console while `outbound serve` runs")


@user_group.command("list")
@JSON_OPTION
@pass_ctx
def user_list(ctx: Ctx, as_json: bool) -> None:
    """List console accounts (never their passwords).

    \b
    Example:
      outbound user list --json
    """
    with ctx.app().engine.begin() as conn:
        data = accounts.users(conn, now())
    if as_json:
        emit_json(data)
        return
    click.echo(
        table(["name", "role", "status", "created", "last login"], [list(d.values()) for d in data])
    )


@user_group.command("disable")
@click.argument("name")
@pass_ctx
def user_disable(ctx: Ctx, name: str) -> None:
    """Disable an account: it cannot sign in, and its open sessions end now.

    \b
    Example:
      outbound user disable alice
    """
    with ctx.app().engine.begin() as conn:
        ended = accounts.disable_user(conn, name, now=now(), actor="cli")
    click.echo(f"console user {name!r} disabled; {ended} open session(s) ended")


@user_group.command("enable")
@click.argument("name")
@JSON_OPTION
@pass_ctx
def user_enable(ctx: Ctx, name: str, as_json: bool) -> None:
    """Enable a disabled account: it may sign in again with its password. Audited.

    \b
    Example:
      outbound user enable alice
    """
    with ctx.app().engine.begin() as conn:
        changed = accounts.enable_user(conn, name, now=now(), actor="cli")
    if as_json:
        emit_json({"name": name, "enabled": changed})
    elif changed:
        click.echo(f"console user {name!r} enabled; it may sign in again")
    else:
        click.echo(f"console user {name!r} was already enabled; nothing changed")


@user_group.command("unlock")
@click.argument("name")
@JSON_OPTION
@pass_ctx
def user_unlock(ctx: Ctx, name: str, as_json: bool) -> None:
    """End an account's lock-out now (after [console] max_failed_logins wrong passwords it is
    locked for lockout_minutes); its failure count starts again from zero. Audited.

    \b
    Example:
      outbound user unlock alice
    """
    with ctx.app().engine.begin() as conn:
        was = accounts.unlock_user(conn, name, now=now(), actor="cli")
    if as_json:
        emit_json({"name": name, "was_locked_until": was})
    elif was is None:
        click.echo(f"console user {name!r} was not locked; its failed-login count is reset")
    else:
        click.echo(f"console user {name!r} unlocked (the lock ran until {was:%H:%M} UTC)")


@user_group.command("passwd")
@click.argument("name")
@click.option(
    "--password-stdin", "from_stdin", is_flag=True, help="Read the password from standard input."
)
@JSON_OPTION
@pass_ctx
def user_passwd(ctx: Ctx, name: str, from_stdin: bool, as_json: bool) -> None:
    """Set a new password (typed twice, hidden; or one line of standard input). The account's
    open sessions end and a lock-out is lifted; only the argon2 hash is stored. Audited.

    \b
    Example:
      outbound user passwd alice
      printf '%s\\n' "$PASSWORD" | outbound user passwd alice --password-stdin
    """
    accounts.check_name(name)
    with ctx.app().engine.begin() as conn:  # an unknown name is refused before the prompt
        accounts.require_user(conn, name)
    password, _ = _password(not from_stdin, from_stdin)
    with ctx.app().engine.begin() as conn:
        ended = accounts.set_password(conn, name, password, now=now(), actor="cli")
    if as_json:
        emit_json({"name": name, "sessions_ended": ended})
    else:
        click.echo(f"console user {name!r}: password changed; {ended} open session(s) ended")
