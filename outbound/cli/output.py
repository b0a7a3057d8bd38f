"""Output for people (tables drawn by rich), programs (``--json``) and spreadsheets (CSV).

Every value a person reads goes through ``human`` (or ``clean`` for text already composed): a
customer's name is data from a webhook or a file, so a control character in it (``ESC[2J``
clears the screen, U+202E reverses the line) is shown escaped, never sent to the terminal.
Dates are ISO (``2026-12-10``), times ``2026-12-10 09:30 UTC``. CSV cells that a spreadsheet
would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) get a leading ``'``, per the
OWASP CSV-injection advice.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from typing import IO, Any

import click
from rich.box import Box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Plain ASCII: a row of dashes under the header, nothing else, so a pipe or a CI log reads
# like the columns the CLI always printed and ``line.split()`` finds the cells.
_DASHES = Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)
_PIPE_WIDTH = 10_000  # not a terminal: never wrap or cut a cell


#: invisible characters that reorder or split what the terminal shows (bidi, line separators)
_INVISIBLE = frozenset("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1) and bidi / line-separator mark
    written as an escape (``\\x1b``, ``\\u202e``): safe to print on any terminal."""
    return "".join(
        _escaped(c) if unicodedata.category(c) == "Cc" or c in _INVISIBLE else c for c in text
    )


def human(value: Any) -> str:
    """One value as a person reads it: ISO dates, ``-`` for nothing, text cleaned."""
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, Mapping) and all(v is None for v in value.values()):
        return "-"  # e.g. a membership with neither tier nor expiry
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return clean(str(value.value))
    if isinstance(value, Mapping):
        return ", ".join(f"{clean(str(k))}={human(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(f"({human(v)})" if isinstance(v, Mapping) else human(v) for v in value)
    return clean(str(value))


def _cell(value: Any) -> Text:
    return Text(human(value))  # Text, not a str: "[push]" in a value is not rich markup


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


def csv_cell(value: Any) -> str:
    """A value for a CSV cell: ISO dates, and text a spreadsheet would run as a formula
    (``=1+1``, ``@SUM(…)``, ``-2+3``) made literal with a leading ``'``. Numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    text = value.value if isinstance(value, Enum) else value
    if isinstance(text, datetime | date):
        return text.isoformat()
    text = str(text)
    return f"'{text}" if text.startswith(_FORMULA) else text


def write_csv(out: IO[str], headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """The one way the project writes CSV: every cell quoted and passed through ``csv_cell``."""
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in headers])
    writer.writerows([csv_cell(v) for v in row] for row in rows)
