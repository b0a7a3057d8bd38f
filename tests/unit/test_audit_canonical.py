"""The audit chain's canonical row is exactly ``json.dumps`` of the row (old rows still verify)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from outbound.store.audit import canonical


@pytest.mark.parametrize(
    "text",
    ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x00nul", "退订 ünï 😀", "\u2028\u2029"],
)
def test_canonical_row_is_byte_identical_to_sorted_compact_json(text: str) -> None:
    at = datetime(2026, 12, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    expected = json.dumps(
        {
            "seq": 7,
            "at": at.astimezone(UTC).isoformat(),
            "actor": text,
            "action": "delivery.outcome",
            "subject": f"delivery#{text}",
            "data": json.dumps({"k": text}),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    got = canonical(7, at, text, "delivery.outcome", f"delivery#{text}", json.dumps({"k": text}))
    assert got == expected
