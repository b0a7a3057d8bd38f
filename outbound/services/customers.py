"""Customer imports: CSV (header row) or JSONL files, checked row by row against CustomerRow.

Every problem of every row is collected with its line number, so an operator fixes a file in
one pass; nothing is imported unless all rows are valid (or ``--skip-invalid``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outbound.domain.customers import CustomerRecord
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.schemas.customers import validate_record


@dataclass(frozen=True)
class RowError:
    line: int
    error: ValidationError

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


def read_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield (line number, raw mapping) from a CSV (header row) or JSONL file."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    obj = {"__error__": f"not valid JSON ({exc.msg} at column {exc.colno})"}
                yield number, obj if isinstance(obj, dict) else {"__error__": "not a JSON object"}
        return
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row


def parse_file(path: Path) -> tuple[list[tuple[int, CustomerRecord]], list[RowError]]:
    """Valid records and every bad row; a repeated external_id names the line it repeats."""
    good: list[tuple[int, CustomerRecord]] = []
    bad: list[RowError] = []
    seen: dict[str, int] = {}
    for line, raw in read_rows(path):
        if "__error__" in raw:
            bad.append(RowError(line, ValidationError(str(raw["__error__"]))))
            continue
        try:
            record = validate_record(raw)
        except ValidationError as exc:
            bad.append(RowError(line, exc))
            continue
        if record.external_id in seen:
            problem = FieldProblem(
                "external_id", record.external_id, f"repeats line {seen[record.external_id]}"
            )
            bad.append(RowError(line, ValidationError([problem])))
            continue
        seen[record.external_id] = line
        good.append((line, record))
    return good, bad
