"""Customer imports: CSV (header row) or JSONL files, checked row by row against CustomerRow.

Every problem of every row is collected with its line number, so an operator fixes a file in
one pass; nothing is imported unless all rows are valid (or ``--skip-invalid``). A file that
cannot be read as a whole — not UTF-8, unknown or misspelled columns, a broken quote, a cell
over the CSV field limit — raises ``ImportFileError`` naming the line: nothing is guessed,
nothing is dropped silently.

Partial updates: a column the file does not have leaves that field of an existing customer as
it is; an empty cell in a column it has clears the field (JSONL: an absent key leaves it,
``null`` or ``""`` clears it).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outbound.domain.customers import CustomerRecord
from outbound.domain.errors import FieldProblem, ValidationError
from outbound.domain.push_targets import PushTargets
from outbound.schemas import numbers
from outbound.schemas.customers import COLUMNS, KEYS, validate_record
from outbound.services.people.endpoints import endpoint_problems

#: the csv module's own per-field limit, kept: no customer field comes near it
FIELD_LIMIT = csv.field_size_limit()
_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_SAVE = "save it as UTF-8 (with or without BOM) and import again"


class ImportFileError(ValidationError):
    """The file as a whole cannot be imported; the message names the line and the fix."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}")


@dataclass(frozen=True)
class RowError:
    line: int
    error: ValidationError

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


def decode(data: bytes) -> str:
    """UTF-8 text, a leading BOM dropped; anything else is refused with its line."""
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise ImportFileError(1, f"the file is {name} text; {_SAVE}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise ImportFileError(
            line, f"is not UTF-8 (byte 0x{byte}; Latin-1 or another code page?); {_SAVE}"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ImportFileError(line, f"has NUL characters (UTF-16 without a BOM?); {_SAVE}")
    return text


def suggestion(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.75)
    return f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"


def unknown_keys(names: Sequence[str], known: Sequence[str], what: str) -> list[FieldProblem]:
    """One problem per name that is not a known column / key, with the closest known one."""
    return [
        FieldProblem(what, name, f"is not a customer {what}; {suggestion(name, known)}")
        for name in names
        if name not in known
    ]


def _header(header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    problems = unknown_keys(names, COLUMNS, "column")
    problems += [
        FieldProblem("column", n, "appears twice in the header")
        for i, n in enumerate(names)
        if n in names[:i] and n in COLUMNS
    ]
    if not problems and "external_id" not in names:
        problems.append(FieldProblem("column", "external_id", "is required in the header"))
    if problems:
        text = "; ".join(str(p) for p in problems)
        raise ImportFileError(1, text)
    return names


def _csv_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    end = 0
    try:
        header = next(reader, None)
        if header is None:
            return
        names = _header(header)
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            yield start, _row(names, cells, start, end)
    except csv.Error as exc:
        raise ImportFileError(end + 1, _csv_problem(str(exc))) from None


def _csv_problem(message: str) -> str:
    if "field larger than field limit" in message:
        return f"a cell is longer than {FIELD_LIMIT:,} characters; no customer field is that long"
    if "unexpected end of data" in message or "EOF" in message:
        return "a quote opened here is never closed; close it or remove it"
    return f"is not valid CSV ({message}); check the quotes on this line"


def _row(names: list[str], cells: list[str], start: int, end: int) -> Mapping[str, Any]:
    if end > start and any("\n" in c or "\r" in c for c in cells):
        return {
            "__error__": f"a quoted cell runs from line {start} to line {end}, taking the "
            "line break in (an unterminated quote?); close the quote"
        }
    if len(cells) != len(names):
        return {
            "__error__": f"has {len(cells)} cell(s) but the header has {len(names)}; "
            "quote a cell that holds a comma"
        }
    return dict(zip(names, cells, strict=True))


def _jsonl_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {"__error__": f"not valid JSON ({exc.msg} at column {exc.colno})"}
            continue
        except RecursionError:
            yield number, {"__error__": "not valid JSON (nested too deeply)"}
            continue
        if not isinstance(obj, dict):
            yield number, {"__error__": "not a JSON object"}
            continue
        # NaN, Infinity, 1e999 and 4000-digit integers: refused by key, as the API refuses them
        unknown = unknown_keys(list(obj), KEYS, "key") + numbers.scan(line)
        yield number, {"__problems__": unknown} if unknown else obj


def read_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield (first line number, raw mapping) from a CSV (header row) or JSONL file."""
    text = decode(path.read_bytes())
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(text)
    else:
        yield from _csv_rows(text)


def _validated(raw: Mapping[str, Any], targets: PushTargets) -> CustomerRecord:
    if "__error__" in raw:
        raise ValidationError(str(raw["__error__"]))
    if "__problems__" in raw:
        raise ValidationError(list(raw["__problems__"]))
    record = validate_record(raw)
    problems = endpoint_problems(record, targets)
    if problems:
        raise ValidationError(problems)
    return record


def parse_file(
    path: Path, targets: PushTargets | None = None
) -> tuple[list[tuple[int, CustomerRecord]], list[RowError]]:
    """Valid records and every bad row; a repeated external_id names the line it repeats; a
    push endpoint ``targets`` (``[push]``) does not allow is a bad row.

    Raises ImportFileError when the file as a whole cannot be read.
    """
    targets = targets or PushTargets()
    good: list[tuple[int, CustomerRecord]] = []
    bad: list[RowError] = []
    seen: dict[str, int] = {}
    for line, raw in read_rows(path):
        try:
            record = _validated(raw, targets)
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
