"""``outbound source add --kind shopify|woocommerce --secret-stdin``: the platform's secret is
taken from stdin and never echoed; ``source list`` shows the kind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli_run import run_cli
from tests.integration.test_cli import CONFIG_DIR, run

SECRET = "shpss_5e3c0ffee0123456789abcdef0123456"


def _run(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUTBOUND_DATABASE_URL": f"sqlite:///{home / 'o.db'}"}
    return run_cli(["--config-dir", str(CONFIG_DIR), *args], cwd=home, env=env, input=stdin)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    run(tmp_path, "db", "upgrade")
    return tmp_path


def test_a_shopify_source_takes_its_secret_from_stdin_and_never_shows_it(home: Path) -> None:
    add = (
        "source", "add", "myshop", "--kind", "shopify", "--secret-stdin",
        "--currency", "eur", "--shop-url", "https://myshop.example",
    )  # fmt: skip
    done = _run(home, *add, stdin=SECRET + "\n")
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "/v1/integrations/shopify/myshop" in done.stdout
    listed = json.loads(_run(home, "source", "list", "--json").stdout)
    assert listed == [
        {
            "name": "myshop",
            "kind": "shopify",
            "events": [],
            "rate_per_second": 100,
            "live_secrets": 1,
            "currency": "EUR",
            "shop_url": "https://myshop.example",
        }
    ]
    table = _run(home, "source", "list").stdout
    assert "shopify" in table and SECRET not in table
    made = _run(home, "source", "rotate", "myshop")  # Shopify signs with its secret, not ours
    assert made.returncode == 2 and "--secret-stdin" in made.stderr
    rotated = _run(home, "source", "rotate", "myshop", "--secret-stdin", stdin="shpss_new\n")
    assert rotated.returncode == 0 and "shpss_new" not in rotated.stdout


def test_a_platform_source_without_secret_stdin_or_currency_is_refused(home: Path) -> None:
    no_secret = _run(home, "source", "add", "s", "--kind", "shopify", "--currency", "EUR")
    assert no_secret.returncode == 2 and "--secret-stdin" in no_secret.stderr
    no_facts = _run(
        home, "source", "add", "w", "--kind", "woocommerce", "--secret-stdin", stdin="s3"
    )
    assert no_facts.returncode != 0 and "Traceback" not in no_facts.stderr
    assert "currency" in no_facts.stderr and "shop_url" in no_facts.stderr
    empty = _run(
        home, "source", "add", "e", "--kind", "woocommerce", "--secret-stdin",
        "--currency", "EUR", "--shop-url", "https://woo.example", stdin="\n",
    )  # fmt: skip
    assert empty.returncode != 0 and "secret" in empty.stderr
    assert json.loads(_run(home, "source", "list", "--json").stdout) == []
