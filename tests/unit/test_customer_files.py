"""Customer files as operators really have them: misspelled headers, extra columns, broken
quotes, other encodings, huge cells. Each is refused naming the line; nothing is dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbound.services.people.imports import ImportFileError, parse_file


def _file(tmp_path: Path, data: bytes | str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(ImportFileError) as err:
        parse_file(path)
    return str(err.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("external_id,phon", "column: 'phon' is not a customer column; did you mean 'phone'?"),
        ("external_id,time_zone", "'time_zone' is not a customer column; did you mean 'timezone'?"),
        ("external_id,Name", "'Name' is not a customer column; did you mean 'name'?"),
        ("external_id,shoe_size", "'shoe_size' is not a customer column; known: external_id,"),
        ("external_id,name,name", "column: 'name' appears twice in the header"),
        ("name,phone", "column: 'external_id' is required in the header"),
    ],
)
def test_a_header_that_is_not_exactly_known_refuses_the_file_at_line_1(
    tmp_path: Path, header: str, expected: str
) -> None:
    message = _refusal(_file(tmp_path, f"{header}\nC1,+4915112345678\n"))
    assert message.startswith("line 1: ") and expected in message


def test_every_unknown_column_is_named_at_once(tmp_path: Path) -> None:
    message = _refusal(_file(tmp_path, "external_id,phon,time_zone\nC1,x,y\n"))
    assert "'phon'" in message and "'time_zone'" in message


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    good, bad = parse_file(_file(tmp_path, b"\xef\xbb\xbfexternal_id,name\nC1,Ann\n"))
    assert bad == [] and [(line, r.external_id, r.name) for line, r in good] == [(2, "C1", "Ann")]


def test_latin1_bytes_are_refused_naming_their_line(tmp_path: Path) -> None:
    path = _file(tmp_path, b"external_id,name\nC1,Ann\nC2,J\xe9r\xf4me\n")
    assert _refusal(path).startswith("line 3: is not UTF-8 (byte 0xe9")
    assert "save it as UTF-8" in _refusal(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_files_are_refused_with_the_fix(tmp_path: Path, encoding: str) -> None:
    path = _file(tmp_path, "external_id,name\nC1,Ann\n".encode(encoding))
    message = _refusal(path)
    assert message.startswith("line 1: ") and "save it as UTF-8" in message


def test_a_cell_over_the_csv_field_limit_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "external_id,name\nC1,Ann\nC2," + "x" * 131_073 + "\n")
    assert _refusal(path) == (
        "line 3: a cell is longer than 131,072 characters; no customer field is that long"
    )


def test_an_unterminated_quote_at_the_end_is_refused_naming_the_line_it_opens(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path, 'external_id,name\nC1,"Ann\nC2,Bo\nC3,Cy\n')
    assert _refusal(path) == "line 2: a quote opened here is never closed; close it or remove it"


def test_a_quote_that_swallows_the_next_row_is_reported_not_imported(tmp_path: Path) -> None:
    path = _file(tmp_path, 'external_id,name,locale\nC1,"Ann,en-US\nC2,Bo",de-DE\nC3,Cy,en-US\n')
    good, bad = parse_file(path)
    assert [r.external_id for _, r in good] == ["C3"]
    assert [str(b) for b in bad] == [
        "line 2: a quoted cell runs from line 2 to line 3, taking the line break in "
        "(an unterminated quote?); close the quote"
    ]


def test_a_row_with_more_or_fewer_cells_than_the_header_is_reported(tmp_path: Path) -> None:
    good, bad = parse_file(_file(tmp_path, "external_id,name\nC1,Ann,extra\nC2\nC3,Cy\n"))
    assert [r.external_id for _, r in good] == ["C3"]
    assert [str(b) for b in bad] == [
        "line 2: has 3 cell(s) but the header has 2; quote a cell that holds a comma",
        "line 3: has 1 cell(s) but the header has 2; quote a cell that holds a comma",
    ]


def test_absent_columns_are_not_named_and_empty_cells_clear(tmp_path: Path) -> None:
    good, bad = parse_file(_file(tmp_path, "external_id,phone,wishlist\nC1,,A;B\n"))
    assert bad == []
    ((_, record),) = good
    assert record.given == frozenset({"phone_e164", "wishlist"})
    assert record.phone_e164 is None and record.wishlist == ("A", "B")


def test_jsonl_unknown_keys_get_a_hint_and_null_clears(tmp_path: Path) -> None:
    lines = '{"external_id": "C1", "phon": "+4915112345678"}\n{"external_id": "C2", "name": null}\n'
    good, bad = parse_file(_file(tmp_path, lines, "c.jsonl"))
    assert [str(b) for b in bad] == [
        "line 1: key: 'phon' is not a customer key; did you mean 'phone'?"
    ]
    ((line, record),) = good
    assert line == 2 and record.given == frozenset({"name"}) and record.name == ""


def test_jsonl_in_latin1_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = _file(
        tmp_path, b'{"external_id": "C1"}\n{"external_id": "C2", "name": "\xe9"}\n', "c.jsonl"
    )
    assert _refusal(path).startswith("line 2: is not UTF-8")


def test_a_jsonl_line_separator_inside_a_string_is_not_a_line_break(tmp_path: Path) -> None:
    good, bad = parse_file(
        _file(tmp_path, '{"external_id": "C1", "name": "a\u2028b"}\n', "c.jsonl")
    )
    assert bad == [] and good[0][1].name == "a\u2028b"
