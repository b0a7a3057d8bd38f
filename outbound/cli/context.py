"""Shared pieces of the command line: the context object, output options, errors."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

from outbound.domain.errors import OutboundError

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
        if settings.log.format != os.environ.get("OUTBOUND_LOG_FORMAT", "human"):
            from outbound.domain.masking import configure_logging

            os.environ["OUTBOUND_LOG_FORMAT"] = settings.log.format  # [log] format
            configure_logging()
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
            from outbound.store.db import make_engine, require_current_schema

            url = self.settings().database_url
            self._engine = make_engine(url)
            require_current_schema(self._engine, url)
        return self._engine

    def database_url(self) -> str:
        """The URL this command uses (for messages): the built app's, else the flag's."""
        if self._app is not None:
            return self._app.settings.database_url
        if self.db:
            return self.db
        try:
            return self.settings().database_url
        except OutboundError:
            return "the configured database"


pass_ctx = click.make_pass_decorator(Ctx)


class FaultAwareGroup(click.Group):
    """The root group: an unwritable or unreachable database, wherever a command meets it, is
    one line naming the database, the cause and the fix (DatabaseUnavailable), not a
    traceback. Statements that fail for other reasons still show theirs: those are bugs."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from outbound.store.db import is_fault, unavailable

            if not is_fault(exc):
                raise
            obj = ctx.obj if isinstance(ctx.obj, Ctx) else None
            url = obj.database_url() if obj else "the configured database"
            raise unavailable(exc, url) from None


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
