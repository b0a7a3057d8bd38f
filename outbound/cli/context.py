"""Shared pieces of the command line: the context object, output options, errors."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import NoReturn

import click
import rich.progress
from rich.console import Console

from outbound import bootstrap
from outbound.config import Settings, load_settings

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


class Ctx:
    def __init__(self, db: str | None, config_dir: str | None) -> None:
        self.db, self.config_dir = db, config_dir
        self._app: bootstrap.App | None = None

    def settings(self) -> Settings:
        overrides = {"database": {"url": self.db}} if self.db else None
        return load_settings(self.config_dir, overrides)

    def app(self, check_schema: bool = True) -> bootstrap.App:
        if self._app is None:
            self._app = bootstrap.build(self.settings(), check_schema=check_schema)
        return self._app


pass_ctx = click.make_pass_decorator(Ctx)


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
