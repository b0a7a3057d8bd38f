"""``outbound -vv providers check``: credentials accepted or refused, the callback URLs, the
route table; the auth token appears nowhere (stdout, stderr), at any verbosity."""

from __future__ import annotations

import json
import os
from pathlib import Path

from outbound.testing.twilio import TwilioService
from tests.cli_run import run_cli
from tests.logcheck import leaks
from tests.providers.conftest import ACCOUNT, TOKEN


def _check(tmp_path: Path, service: TwilioService, token: str, *flags: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTBOUND_")}
    env.update(
        OUTBOUND_DATABASE_URL=f"sqlite:///{tmp_path / 'o.db'}",
        OUTBOUND_SMS_ADAPTER="twilio",
        OUTBOUND_SMS_ROUTES='{"1": ["twilio", "log"], "default": ["twilio"]}',
        OUTBOUND_TWILIO_ACCOUNT_SID=ACCOUNT,
        OUTBOUND_TWILIO_AUTH_TOKEN=token,
        OUTBOUND_TWILIO_FROM_NUMBER="+15005550006",
        OUTBOUND_TWILIO_API_BASE=service.url,
        OUTBOUND_API_PUBLIC_URL="https://hooks.shop.example",
    )
    for args in (["db", "upgrade"], ["-vv", "providers", "check", *flags]):
        run = run_cli(args, cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, run.stderr


def test_providers_check_reports_accepted_credentials_callbacks_and_routes(
    tmp_path: Path, twilio: TwilioService
) -> None:
    out, err = _check(tmp_path, twilio, TOKEN, "--json")
    report = json.loads(out)
    (twilio_entry, log_entry) = report["providers"]
    assert twilio_entry["credentials"] == "accepted"
    assert twilio_entry["callbacks"] == {
        "status": "https://hooks.shop.example/v1/providers/twilio/status",
        "inbound": "https://hooks.shop.example/v1/providers/twilio/inbound",
    }
    assert log_entry["provider"] == "log"
    assert report["routes"] == {"1": ["twilio", "log"], "default": ["twilio"]}
    assert " DEBUG " in err  # the logs were at -vv
    assert leaks(out + err, [TOKEN]) == []


def test_providers_check_says_refused_for_a_wrong_token_without_showing_it(
    tmp_path: Path, twilio: TwilioService
) -> None:
    wrong = "wrong-token-1234567890abcdef"
    out, err = _check(tmp_path, twilio, wrong)
    assert "refused (HTTP 401)" in out
    assert leaks(out + err, [TOKEN, wrong]) == []
