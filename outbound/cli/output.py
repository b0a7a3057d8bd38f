"""Output for people (tables drawn by rich) and programs (``--json``)."""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import click
from rich.box import Box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Plain ASCII: a row of dashes under the header, nothing else, so a pipe or a CI log reads
# like the columns the CLI always printed and ``line.split()`` finds the cells.
_DASHES = Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)
_PIPE_WIDTH = 10_000  # not a terminal: never wrap or cut a cell


def _cell(value: Any) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, datetime):
        return Text(value.strftime("%Y-%m-%d %H:%M UTC"))
    return Text(str(value))  # Text, not a str: "[push]" in a value is not rich markup


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "", *, plain: bool = False
) -> str:
    """Aligned columns (CJK counts double); colour and wrapping only on a terminal, never
    when ``plain`` (text for a web page)."""
    grid = Table(box=_DASHES, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for header in headers:
        grid.add_column(Text(header))
    for row in rows:
        grid.add_row(*(_cell(v) for v in row))
    tty = not plain and sys.stdout.isatty()
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=tty,
        width=shutil.get_terminal_size().columns if tty else _PIPE_WIDTH,
    )
    console.print(grid)
    out = [title] if title else []
    out.extend(line.rstrip() for line in buffer.getvalue().splitlines())
    if not rows:
        out.append("(none)")
    return "\n".join(out)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return str(value)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_default, ensure_ascii=False, indent=2))
