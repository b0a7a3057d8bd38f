"""CLI tables and progress bars (drawn by rich) as a pipe or a CI log sees them."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from outbound.cli.context import Progress
from outbound.cli.output import table


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_table_aligns_columns_by_display_width_with_cjk_names() -> None:
    out = table(["name", "country"], [["김민수", "KR"], ["Bo", "DE"]], title="customers")
    title, header, rule, first, second = out.splitlines()
    assert (title, header.split(), set(rule.replace(" ", ""))) == (
        "customers",
        ["name", "country"],
        {"-"},
    )
    columns = {
        _display_width(line[: line.index(code)]) for line, code in [(first, "KR"), (second, "DE")]
    }
    assert columns == {_display_width(header[: header.index("country")])}


def test_table_prints_values_verbatim_unwrapped_and_without_colour_in_a_pipe() -> None:
    long = "x" * 300
    out = table(
        ["field", "value"],
        [["note", "[push] [bold]not markup[/bold]"], ["long", long], ["none", None]],
    )
    lines = out.splitlines()
    assert lines[2].split(None, 1) == ["note", "[push] [bold]not markup[/bold]"]
    assert lines[3].split() == ["long", long] and lines[4].split() == ["none", "-"]
    assert "\x1b[" not in out and all(line == line.rstrip() for line in lines)


def test_table_formats_datetimes_in_utc_and_says_none_when_empty() -> None:
    stamp = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    assert "2026-11-26 15:00 UTC" in table(["at"], [[stamp]])
    assert table(["at", "action"], []).splitlines()[-1] == "(none)"


def test_progress_is_silent_when_disabled_and_ends_with_the_count_when_enabled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quiet = Progress("importing", 300, enabled=False)
    quiet.update(300)
    quiet.close()
    assert capsys.readouterr() == ("", "")
    bar = Progress("importing", 300, enabled=True)
    for _ in range(300):
        bar.update(1)
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and "importing" in captured.err and "300/300" in captured.err
    assert bar.done == 300
