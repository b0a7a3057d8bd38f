"""Result rows as plain dicts: the one place a row of the store becomes a mapping.

Query modules return these (or SQLAlchemy rows for attribute access); services shape them for
their readers without knowing a column object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def as_dict(row: Any) -> dict[str, Any]:
    """One row, every column by name."""
    return dict(row._mapping)


def as_dicts(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows in the order given, every column by name."""
    return [dict(r._mapping) for r in rows]


def pick(row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The named columns of a row dict, in the order named."""
    return {f: row[f] for f in fields}
