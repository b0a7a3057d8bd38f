"""Shared pieces of the command line: the context object, output options, errors."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from outbound.domain.errors import OutboundError
from outbound.domain.values import row_id

if TYPE_CHECKING:  # imported where used: `outbound --help` needs none of them
    import rich.progress
    from sqlalchemy import Engine

    from outbound import bootstrap
    from outbound.config import Settings

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


class Ctx:
    def __init__(self, db: str | None, config_dir: str | None) -> None:
        self.db, self.config_dir = db, config_dir
        self._app: bootstrap.App | None = None
        self._engine: Engine | None = None

    def settings(self) -> Settings:
        from outbound.config import load_settings

        overrides = {"database": {"url": self.db}} if self.db else None
        settings = load_settings(self.config_dir, overrides)
        _follow_log_format(settings.log.format)
        return settings

    def app(self, check_schema: bool = True) -> bootstrap.App:
        if self._app is None:
            from outbound import bootstrap

            self._app = bootstrap.build(self.settings(), check_schema=check_schema)
        return self._app

    def engine(self) -> Engine:
        """The database alone, schema checked, for commands that only read: no rules, adapters
        or scheduler are built (the built app's engine when there is one)."""
        if self._app is not None:
            return self._app.engine
        if self._engine is None:
            from outbound.config.quick import database_settings
            from outbound.services.storage import open_current

            # two keys, read without pydantic (outbound.config.quick): a read is quick to start
            quick = database_settings(self.config_dir, self.db)
            _follow_log_format(quick.log_format)
            self._engine = open_current(quick.database_url)
        return self._engine

    def database_url(self) -> str:
        """The URL this command uses (for messages): the built app's, else the flag's."""
        if self._app is not None:
            return self._app.settings.database_url
        if self.db:
            return self.db
        try:
            from outbound.config.quick import database_settings

            return database_settings(self.config_dir, self.db).database_url
        except OutboundError:
            return "the configured database"


def _follow_log_format(log_format: str) -> None:
    """``[log] format`` of the config, applied to this process's log lines."""
    if log_format != os.environ.get("OUTBOUND_LOG_FORMAT", "human"):
        from outbound.domain.masking import configure_logging

        os.environ["OUTBOUND_LOG_FORMAT"] = log_format
        configure_logging()


pass_ctx = click.make_pass_decorator(Ctx)


class FaultAwareGroup(click.Group):
    """The root group: an unwritable or unreachable database, wherever a command meets it, is
    one line naming the database, the cause and the fix (DatabaseUnavailable), not a
    traceback. Statements that fail for other reasons still show theirs: those are bugs."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from outbound.services.storage import is_fault, unavailable

            if not is_fault(exc):
                raise
            obj = ctx.obj if isinstance(ctx.obj, Ctx) else None
            url = obj.database_url() if obj else "the configured database"
            raise unavailable(exc, url) from None


def writable_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """A click callback for a file a command writes: its folder must exist and be writable,
    checked before any work is done (a usage error, not a FileNotFoundError at the end)."""
    if value is None:
        return None
    folder = value.parent if str(value.parent) else Path(".")
    if not folder.is_dir():
        raise click.BadParameter(
            f"the folder {str(folder)!r} of {str(value)!r} does not exist; create it or "
            "write to an existing folder",
            ctx,
            param,
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.BadParameter(
            f"the folder {str(folder)!r} is not writable by this user; choose another",
            ctx,
            param,
        )
    return value


class RowIdType(click.ParamType):
    """A row id argument (1..2^63-1); ``-1`` is taken for a value, not an unknown option, when
    the command has ``context_settings=NEGATIVE_ARGS``."""

    name = "id"

    def __init__(self, what: str, example: str) -> None:
        self.what, self.example = what, example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        number = row_id(str(value).strip())
        if number is None:
            self.fail(
                f"{str(value)[:40]!r} is not a {self.what} id: ids are whole numbers from 1 "
                f"up; {self.example}",
                param,
                ctx,
            )
        return number


#: lets a negative number reach an argument (``why -1``) and be refused by its type
NEGATIVE_ARGS = {"ignore_unknown_options": True}


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def now() -> datetime:
    return datetime.now(UTC)


class Progress:
    """A rich progress bar on stderr for long operations; silent for --json or small jobs.

    The bar starts at the first update, so a job that does nothing prints nothing; ``total``
    None (not known up front) shows a count and a pulsing bar.
    """

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.done = 0
        self._live: tuple[rich.progress.Progress, rich.progress.TaskID] | None = None

    def update(self, n: int) -> None:
        self.done += n
        if self.enabled:
            bar, task = self._live or self._start()
            bar.update(task, advance=n)

    def _start(self) -> tuple[rich.progress.Progress, rich.progress.TaskID]:
        import rich.progress
        from rich.console import Console

        bar = rich.progress.Progress(
            rich.progress.TextColumn("{task.description}"),
            rich.progress.BarColumn(),
            rich.progress.MofNCompleteColumn(),
            rich.progress.TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        bar.start()
        self._live = bar, bar.add_task(self.label, total=self.total)
        return self._live

    def close(self) -> None:
        if self._live is not None:
            self._live[0].stop()
            self._live = None
