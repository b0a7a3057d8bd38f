"""``outbound serve --until-idle`` with the real push adapter closes its HTTP session at exit
(issue 21, item 15: it ended with aiohttp's "Unclosed client session")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.test_cli import run
from tests.push.peers import WebPushService


def _midday_zone() -> str:
    """An Etc/GMT zone where it is around noon now, so no quiet hours hold the push back."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def test_serve_until_idle_sends_a_web_push_and_exits_without_an_unclosed_session(
    tmp_path: Path,
    vapid_key: tuple[Path, bytes],
    webpush_service: WebPushService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {
        "ADAPTER": "real",
        "VAPID_PRIVATE_KEY_FILE": str(vapid_key[0]),
        "ALLOW_LOOPBACK": "true",  # the loopback Web Push service
    }.items():
        monkeypatch.setenv(f"OUTBOUND_PUSH_{key}", value)
    run(tmp_path, "db", "upgrade")
    customer = {
        "external_id": "C1",
        "timezone": _midday_zone(),
        "preference": "push",
        "push_subscriptions": [webpush_service.subscribe("ua1")],
    }
    (tmp_path / "c.jsonl").write_text(json.dumps(customer) + "\n", encoding="utf-8")
    run(tmp_path, "customer", "import", "c.jsonl")
    data = '{"order_id": "A1", "carrier": "DHL", "tracking_no": "T1", "eta": "2026-12-01"}'
    run(tmp_path, "send", "shipping", "--customer", "C1", "--data", data)
    served = run(tmp_path, "serve", "--role", "worker", "--until-idle")
    assert len(webpush_service.pushed) == 1, served.stderr
    assert "Unclosed" not in served.stderr, served.stderr
