"""What reaches a terminal or a spreadsheet: control characters escaped, formulas made literal,
dates in ISO form."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from outbound.cli.output import clean, csv_cell, human, table, write_csv
from outbound.domain.values import Channel


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Ann\x1b[2J", "Ann\\x1b[2J"),  # clear screen
        ("A\x9b31mB", "A\\x9b31mB"),  # C1 CSI, one byte
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("a\nb\rc\td\x00\x7f", "a\\x0ab\\x0dc\\x09d\\x00\\x7f"),
        ("a\u2028b\u2066c", "a\\u2028b\\u2066c"),
        ("李雷 Ünal", "李雷 Ünal"),  # letters are letters
    ],
)
def test_clean_escapes_every_control_and_bidi_character(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_table_cells_are_escaped() -> None:
    out = table(["name"], [["Eve\x1b]0;owned\x07"]])
    assert "\x1b" not in out and "\x07" not in out
    assert "Eve\\x1b]0;owned\\x07" in out


def test_human_prints_iso_dates_and_readable_structures() -> None:
    expires = {"tier": "gold", "expires_on": date(2026, 12, 10)}
    assert human(expires) == "tier=gold, expires_on=2026-12-10"
    assert human(datetime(2026, 12, 10, 9, 30, tzinfo=UTC)) == "2026-12-10 09:30 UTC"
    beijing = timezone(timedelta(hours=8))
    assert human(datetime(2026, 12, 10, 17, 30, tzinfo=beijing)) == "2026-12-10 09:30 UTC"
    assert human([Channel.PUSH, Channel.SMS]) == "push; sms"
    assert (human(None), human([]), human({})) == ("-", "-", "-")
    assert human({"name": "x\x1by"}) == "name=x\\x1by"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cell_makes_a_formula_literal(text: str) -> None:
    assert csv_cell(text) == "'" + text


def test_csv_cell_keeps_numbers_plain_text_and_dates() -> None:
    assert [csv_cell(v) for v in (-5, 2.5, "Ann", None, date(2026, 1, 2))] == [
        "-5",
        "2.5",
        "Ann",
        "",
        "2026-01-02",
    ]


def test_write_csv_quotes_every_cell_and_reads_back() -> None:
    out = io.StringIO()
    write_csv(out, ["name", "n"], [['=HYPERLINK("http://x","y")', 3], ["Bo, Jr.", -1]])
    assert out.getvalue().splitlines()[1] == '"\'=HYPERLINK(""http://x"",""y"")","3"'
    assert list(csv.reader(io.StringIO(out.getvalue())))[2] == ["Bo, Jr.", "-1"]
