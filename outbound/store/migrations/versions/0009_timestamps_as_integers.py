"""timestamps as integers (SQLite)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

On SQLite every timestamp was SQLAlchemy's 26-character text (``2026-12-01 15:00:00.000000``,
naive UTC); it becomes whole microseconds since 1970-01-01 UTC, an 8-byte integer, in place.
The columns keep their declared type ``DATETIME`` (numeric affinity holds an integer as it is),
so no table is rebuilt. Every ``DATETIME`` column of every table is converted — also those of
tables added by migrations this one comes after. PostgreSQL keeps ``timestamptz``: nothing to do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# text -> integer: SQLAlchemy's "YYYY-MM-DD HH:MM:SS.ffffff" (or without the fraction): seconds
# from the first 19 characters, microseconds from the fraction, padded to six digits.
_TO_MICROS = (
    "UPDATE {t} SET {c} = CAST(strftime('%s', substr({c}, 1, 19)) AS INTEGER) * 1000000"
    " + CAST(substr(substr({c}, 21, 6) || '000000', 1, 6) AS INTEGER)"
    " WHERE typeof({c}) = 'text' AND substr({c}, 20, 1) IN ('.', '')"
)
_TO_TEXT = (
    "UPDATE {t} SET {c} = strftime('%Y-%m-%d %H:%M:%S', ({c} - {micros}) / 1000000, 'unixepoch')"
    " || '.' || printf('%06d', {micros}) WHERE typeof({c}) = 'integer'"
)


def _timestamp_columns() -> list[tuple[str, str]]:
    inspector = sa.inspect(op.get_bind())
    return [
        (table, column["name"])
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
        if str(column["type"]).upper() == "DATETIME"
    ]


def _run(template: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in _timestamp_columns():
        t, c = f'"{table}"', f'"{column}"'
        micros = f"(({c} % 1000000) + 1000000) % 1000000"  # floor, also before 1970
        op.execute(template.format(t=t, c=c, micros=micros))


def upgrade() -> None:
    _run(_TO_MICROS)


def downgrade() -> None:
    _run(_TO_TEXT)
