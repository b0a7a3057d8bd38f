"""``outbound customer import`` as an operator runs it (in the test process, real SQLite): partial
re-imports keep what the file does not name; a file it cannot read fully is refused by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import run

FULL = (
    "external_id,name,phone,timezone,locale,preference,membership_tier,membership_expires_on,"
    "wishlist,push_token\n"
    "C1,Ann,+12125550123,America/New_York,en-US,sms>voice,gold,2026-12-10,SKU-1,tok-1\n"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    run(tmp_path, "db", "upgrade")
    (tmp_path / "full.csv").write_text(FULL, encoding="utf-8")
    run(tmp_path, "customer", "import", "full.csv")
    return tmp_path


def _show(home: Path) -> dict[str, object]:
    data = json.loads(run(home, "customer", "show", "C1", "--json").stdout)
    keep = ("name", "phone", "country", "timezone", "locale", "preference", "membership")
    return {k: data[k] for k in keep} | {
        "wishlist": data["wishlist"],
        "push_subscriptions": data["push_subscriptions"],
    }


def test_reimport_with_fewer_columns_keeps_the_fields_it_does_not_name(home: Path) -> None:
    before = _show(home)
    (home / "names.csv").write_text("external_id,name\nC1,Ann Lee\n", encoding="utf-8")
    proc = run(home, "customer", "import", "names.csv", "--json")
    assert json.loads(proc.stdout)["updated"] == 1
    assert _show(home) == {**before, "name": "Ann Lee"}


def test_an_empty_cell_in_a_present_column_clears_that_field(home: Path) -> None:
    before = _show(home)
    (home / "clear.csv").write_text("external_id,timezone,wishlist\nC1,,\n", encoding="utf-8")
    run(home, "customer", "import", "clear.csv")
    assert _show(home) == {**before, "timezone": None, "wishlist": []}


def test_a_misspelled_header_is_refused_with_a_hint_and_nothing_is_imported(home: Path) -> None:
    (home / "typo.csv").write_text("external_id,phon\nC2,+4915112345678\n", encoding="utf-8")
    proc = run(home, "customer", "import", "typo.csv", ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "error: typo.csv: line 1: column: 'phon' is not a customer column; "
        "did you mean 'phone'?; nothing was imported"
    )
    ids = [c["external_id"] for c in json.loads(run(home, "customer", "list", "--json").stdout)]
    assert ids == ["C1"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"external_id,name\nC2,J\xe9r\xf4me\n", "line 2: is not UTF-8 (byte 0xe9"),
        ("external_id,name\nC2,Bo\n".encode("utf-16"), "line 1: the file is UTF-16 text"),
        (b"external_id,name\nC2," + b"x" * 131_073 + b"\n", "line 2: a cell is longer than"),
        (b'external_id,name\nC2,"Bo\nC3,Cy\n', "line 2: a quote opened here is never closed"),
    ],
    ids=["latin-1", "utf-16", "huge-cell", "open-quote"],
)
def test_an_unreadable_file_is_refused_naming_the_line_without_a_traceback(
    home: Path, data: bytes, expected: str
) -> None:
    (home / "bad.csv").write_bytes(data)
    proc = run(home, "customer", "import", "bad.csv", "--skip-invalid", ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: bad.csv: {expected}")


def test_a_bom_csv_and_a_partial_jsonl_import_cleanly(home: Path) -> None:
    (home / "bom.csv").write_bytes(b"\xef\xbb\xbfexternal_id,name\nC2,Bo\n")
    assert json.loads(run(home, "customer", "import", "bom.csv", "--json").stdout)["created"] == 1
    (home / "c.jsonl").write_text('{"external_id": "C1", "phone": null}\n', encoding="utf-8")
    run(home, "customer", "import", "c.jsonl")
    shown = _show(home)
    assert shown["phone"] == "" and shown["name"] == "Ann" and shown["timezone"]


def test_import_help_states_the_partial_update_rule() -> None:
    proc = run(Path.cwd(), "customer", "import", "--help")
    text = " ".join(proc.stdout.split())
    assert "a column the file does not have leaves that field as it is" in text
    assert "an empty cell in a column it has clears the field" in text


def test_a_row_whose_country_contradicts_the_stored_phone_is_refused_by_line(home: Path) -> None:
    (home / "country.csv").write_text("external_id,country\nC1,DE\n", encoding="utf-8")
    proc = run(home, "customer", "import", "country.csv", ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    first, last = proc.stderr.strip().splitlines()
    assert first.startswith("country.csv: line 2: country: 'DE' disagrees with the country")
    assert "+1******0123" in first and "2125550123" not in proc.stderr
    assert (
        last
        == "error: 1 invalid row(s) in country.csv; nothing imported. Fix them or pass --skip-invalid"
    )
    assert _show(home)["country"] == "US"


def test_import_help_names_every_column_a_file_may_have() -> None:
    from outbound.schemas.customers import COLUMNS

    text = run(Path("."), "customer", "import", "--help").stdout
    assert [c for c in COLUMNS if c not in text] == []
