"""The decision text (what ``outbound why`` prints and the console's decision page shows) and
the plain-text pieces it is made of, in one place both the CLI and the console import.

Every value a person reads goes through ``human`` (or ``clean`` for text already composed): a
customer's name is data from a webhook or a file, so a control character in it (``ESC[2J``
clears the screen, U+202E reverses the line) is shown escaped, never passed on. Dates are ISO
(``2026-12-10``), times ``2026-12-10 09:30 UTC``. Tables are drawn by rich; colour and wrapping
only when the caller says the text goes to a terminal.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from outbound.services.views.history import verdict

if TYPE_CHECKING:  # rich is imported when a table is drawn: a command that fails first pays none
    from rich.box import Box
    from rich.text import Text


@cache
def _dashes() -> Box:
    """Plain ASCII: a row of dashes under the header, nothing else, so a pipe or a CI log reads
    like the columns the CLI always printed and ``line.split()`` finds the cells."""
    from rich.box import Box

    return Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


_PIPE_WIDTH = 10_000  # not a terminal: never wrap or cut a cell

#: invisible characters that reorder or split what the terminal shows (bidi, line separators)
_INVISIBLE = frozenset("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e") | frozenset(
    "\u2066\u2067\u2068\u2069"
)


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
    from rich.text import Text

    return Text(human(value))  # Text, not a str: "[push]" in a value is not rich markup


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str = "",
    *,
    terminal: bool = False,
) -> str:
    """Aligned columns (CJK counts double); colour and wrapping to the window only when
    ``terminal``, never in text for a pipe or a web page."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=_dashes(), show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for header in headers:
        grid.add_column(Text(header))
    for row in rows:
        grid.add_row(*(_cell(v) for v in row))
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=terminal,
        width=_columns() if terminal else _PIPE_WIDTH,
    )
    console.print(grid)
    out = [title] if title else []
    out.extend(line.rstrip() for line in buffer.getvalue().splitlines())
    if not rows:
        out.append("(none)")
    return "\n".join(out)


def _columns() -> int:
    import shutil  # here: it imports the archive modules, which a pipe's table does not need

    return shutil.get_terminal_size().columns


def explain(data: dict[str, Any], *, terminal: bool = False) -> str:
    """A notification's decisions in plain words: each decision's verdict and its rule trace,
    then the deliveries (``data`` is ``services.reports.notification_report``)."""
    lines = [
        f"notification {data['id']}: {data['kind']} ({data['purpose']}) for customer "
        f"{clean(str(data['customer']))}",
        f"status {data['status']}; created {data['created_at']:%Y-%m-%d %H:%M UTC} via "
        f"{clean(str(data['source']))}; "
        f"expires {data['expires_at']:%Y-%m-%d %H:%M UTC}"
        if data["expires_at"]
        else f"status {data['status']}",
    ]
    for i, decision in enumerate(data["decisions"], start=1):
        lines.append(
            f"\ndecision {i} (rung {decision['rung']}, {decision['at']}): {verdict(decision)}"
        )
        for step in decision["trace"]:
            mark = "ok " if step["ok"] else "NO "
            where = f"[{step['channel']}] " if step["channel"] else ""
            lines.append(f"  {mark} {step['rule']:<12} {where}{clean(str(step['detail']))}")
    if data["deliveries"]:
        lines.append("")
        lines.append(
            table(
                ["delivery", "channel", "rung", "status", "outcome", "attempts", "due"],
                [
                    [
                        d["id"],
                        d["channel"],
                        d["rung"],
                        d["status"],
                        d["outcome"],
                        d["attempts"],
                        d["due_at"],
                    ]
                    for d in data["deliveries"]
                ],
                title="deliveries",
                terminal=terminal,
            )
        )
    return "\n".join(lines)
