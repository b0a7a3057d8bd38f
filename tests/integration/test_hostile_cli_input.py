"""Numbers JSON cannot carry and payloads of the wrong shape, given to every CLI entry that
reads JSON (files, ``--params``, ``--data``): one line naming the field, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    run(tmp_path, "db", "upgrade")
    return tmp_path


def test_jsonl_import_refuses_nan_infinity_and_1e999_by_key_and_imports_nothing(
    home: Path,
) -> None:
    lines = [
        '{"external_id": "J1", "name": NaN}',
        '{"external_id": "J2", "wishlist": [Infinity]}',
        '{"external_id": "J3", "membership_tier": 1e999}',
        '{"external_id": "J4", "name": "Ann"}',
    ]
    (home / "c.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run(home, "customer", "import", "c.jsonl", ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[:3] == [
        "c.jsonl: line 1: name: 'NaN' is not a JSON number (NaN and Infinity are not JSON); "
        "send a finite number",
        "c.jsonl: line 2: wishlist: 'Infinity' is not a JSON number (NaN and Infinity are not "
        "JSON); send a finite number",
        "c.jsonl: line 3: membership_tier: '1e999' is too large a number (beyond ±1.8e308)",
    ]
    assert json.loads(run(home, "customer", "list", "--json").stdout) == []


def test_campaign_params_with_nan_are_refused_naming_the_field(home: Path) -> None:
    params = '{"title": "K", "old_price": NaN, "new_price": "2", "currency": "EUR", "url": "https://s.example/k"}'
    proc = run(
        home,
        *("campaign", "create", "drop", "--kind", "price_drop", "--schedule", "0 10 * * *"),
        *("--timezone", "UTC", "--segment", '{"wishlist_sku": "SKU-1"}', "--params", params),
        ok=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "params.old_price: 'NaN' is not a JSON number" in proc.stderr


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("[1]", "error: --data must be a JSON object"),
        ('{"title": NaN}', "data.title: 'NaN' is not a JSON number"),
        ('{"title": "K", "old_price": "1e999999"}', "data.old_price: '1e999999' has more than"),
        ("nope", "error: --data is not JSON"),
    ],
    ids=["list", "nan", "huge-price", "not-json"],
)
def test_flow_try_data_is_checked_as_send_checks_it(home: Path, data: str, says: str) -> None:
    proc = run(home, "flow", "try", "price_drop", "--data", data, ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert says in proc.stderr and "robot" not in proc.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("why", "99999999999999999999999"), "Invalid value for 'NOTIFICATION_ID'"),
        (("customer", "list", "--limit", "99999999999999999999999"), "Invalid value for '--limit'"),
        (("audit", "list", "--limit", "0"), "Invalid value for '--limit'"),
        (("serve", "--threads", "-5", "--until-idle"), "Invalid value for '--threads'"),
        (("serve", "--threads", "100000000", "--until-idle"), "Invalid value for '--threads'"),
        (("serve", "--port", "99999", "--until-idle"), "Invalid value for '--port'"),
        (
            (
                "consent",
                "grant",
                "--customer",
                "C1",
                "--channel",
                "sms",
                "--purpose",
                "marketing",
                "--evidence",
                "x" * 5000,
            ),
            "Invalid value for '--evidence': is 5,000 characters; at most 2,000",
        ),
    ],
    ids=[
        "why-id",
        "customer-limit",
        "audit-limit",
        "threads-negative",
        "threads-huge",
        "port",
        "evidence",
    ],
)
def test_an_out_of_range_number_or_text_is_a_usage_error_not_a_traceback(
    home: Path, args: tuple[str, ...], says: str
) -> None:
    proc = run(home, *args, ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert says in proc.stderr


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("OUTBOUND_WORKER_THREADS", "-5", "[worker] threads = '-5' input should be greater than"),
        ("OUTBOUND_API_PORT", "99999", "[api] port = '99999' input should be less than"),
    ],
)
def test_an_out_of_range_setting_names_the_key_and_the_range(
    home: Path, variable: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    proc = run(home, "serve", "--until-idle", ok=False)
    assert "Traceback" not in proc.stderr and says in proc.stderr, proc.stderr
