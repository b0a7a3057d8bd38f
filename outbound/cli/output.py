"""Output for people (tables drawn by rich), programs (``--json``) and spreadsheets (CSV).

Every value a person reads goes through ``human`` (or ``clean`` for text already composed),
which live in ``outbound.services.views.explain`` with the decision text the console shows too: a
control character in a customer's name is shown escaped, never sent to the terminal.
Dates are ISO (``2026-12-10``), times ``2026-12-10 09:30 UTC``. CSV cells that a spreadsheet
would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) get a leading ``'``, per the
OWASP CSV-injection advice.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import IO, Any

import click

from outbound.services.views.explain import clean, human
from outbound.services.views.explain import table as text_table

__all__ = ["clean", "csv_cell", "emit_json", "human", "table", "write_csv"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "", *, plain: bool = False
) -> str:
    """Aligned columns; colour and wrapping only on a terminal, never when ``plain``."""
    return text_table(headers, rows, title, terminal=not plain and sys.stdout.isatty())


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
