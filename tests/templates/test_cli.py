"""``outbound templates`` and ``serve`` with templates, as an operator runs them: real
files, ``serve`` a real process given a real SIGHUP (the commands run in the test process,
tests/cli_run.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from outbound.defaults import default_dir
from tests.cli_run import OUTBOUND, run_outbound
from tests.conftest import CONFIG_DIR


def _env(home: Path, templates: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "OUTBOUND_DATABASE_URL": f"sqlite:///{home / 'o.db'}",
        "XDG_RUNTIME_DIR": str(home),  # this test's serve processes only
    }
    if templates is not None:
        env["OUTBOUND_TEMPLATES_DIR"] = str(templates)
    return env


def run(home: Path, *args: str, templates: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_outbound(
        ["--config-dir", str(CONFIG_DIR), *args], cwd=home, env=_env(home, templates)
    )


@pytest.fixture
def own(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(default_dir("templates"), target)
    return target


def test_preview_prints_text_encoding_characters_and_parts(tmp_path: Path) -> None:
    data = {
        "sku": "K1",
        "title": "Bouilloire",
        "old_price": "119.90",
        "new_price": "99.90",
        "currency": "EUR",
        "url": "https://shop.example/k",
    }
    args = ["templates", "preview", "price_drop", "--channel", "sms", "--locale", "fr-FR"]
    proc = run(tmp_path, *args, "--data", json.dumps(data), "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    text = (
        "Shop : le prix de Bouilloire, dans votre liste d'envies, est passé de 119,90 € à "
        "99,90 € : https://shop.example/k Désabonnement : répondez STOP"
    )
    assert shown["text"] == text
    assert (shown["encoding"], shown["chars"], shown["parts"]) == ("gsm7", len(text), 1)
    assert (shown["template"], shown["fallback"]) == ("price_drop/sms.fr.j2", "no fr-FR template")
    plain = run(tmp_path, *args, "--data", json.dumps(data))
    assert f"size:     gsm7, {len(text)} characters" in plain.stdout


def test_preview_names_a_bad_field_without_a_traceback(tmp_path: Path) -> None:
    bad = {"title": "T", "old_price": "x", "new_price": "1", "currency": "EUR", "url": "u"}
    proc = run(tmp_path, "templates", "preview", "price_drop", "--data", json.dumps(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "data.old_price: 'x'" in proc.stderr


def test_lint_exits_1_naming_file_line_and_field(tmp_path: Path, own: Path) -> None:
    (own / "shipping" / "sms.pt.j2").write_text(
        "{{ brand }}: pedido {{ order_id }}\nchega {{ eta|format_date }} {{ colour }} {{ footer }}\n"
    )
    proc = run(tmp_path, "templates", "lint", str(own))
    assert proc.returncode == 1
    assert "problem: shipping/sms.pt.j2:2 [colour]: unknown field 'colour'" in proc.stderr
    report = json.loads(run(tmp_path, "templates", "lint", str(own), "--json").stdout)
    assert report["problems"][0]["file"] == "shipping/sms.pt.j2"
    assert report["problems"][0]["line"] == 2


def test_serve_refuses_to_start_with_a_broken_template(tmp_path: Path, own: Path) -> None:
    (own / "renewal" / "push.ko.j2").write_text("{% block title %}{{ brand }}{% endblock %}\n")
    assert run(tmp_path, "db", "upgrade").returncode == 0
    proc = run(tmp_path, "serve", "--role", "worker", "--until-idle", templates=own)
    assert proc.returncode == 4, proc.stderr
    assert "renewal/push.ko.j2:1 [body]: a push needs a body block" in proc.stderr


def test_init_copies_the_templates_out_for_the_operator(tmp_path: Path) -> None:
    proc = run(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    # the audit key goes beside the new ./config, never into the --config-dir copied from
    assert (tmp_path / "config" / "audit.key").is_file()
    assert not (CONFIG_DIR / "audit.key").exists()
    copied = sorted(
        p.relative_to(tmp_path / "templates").as_posix()
        for p in (tmp_path / "templates").rglob("*.j2")
    )
    assert len(copied) == 77  # 3 kinds x 2 channels x 11 languages + 11 footers
    assert "price_drop/sms.zh-Hant.j2" in copied and "footer/sms.ja.j2" in copied


def test_reload_makes_a_running_serve_read_the_templates_again(tmp_path: Path, own: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [OUTBOUND, "--config-dir", str(CONFIG_DIR), "serve", "--role", "worker"],
        cwd=tmp_path,
        env=_env(tmp_path, own),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        _wait_for(tmp_path / "serve.log", "outbound serving")
        (own / "shipping" / "sms.en.j2").write_text("{{ brand }}: {{ order_id }} {{ footer }}\n")
        proc = run(tmp_path, "templates", "reload", templates=own)  # finds serve by its note
        assert proc.returncode == 0, proc.stderr
        assert f"pid {serve.pid}" in proc.stdout
        _wait_for(tmp_path / "serve.log", f"templates reloaded from {own}")
        (own / "shipping" / "sms.en.j2").write_text("{{ brand }}: {{ order_idd }} {{ footer }}\n")
        refused = run(tmp_path, "templates", "reload", "--pid", str(serve.pid), templates=own)
        assert refused.returncode == 1 and "[order_idd]" in refused.stderr
        assert serve.poll() is None  # still serving, with the set it had
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        log.close()


def _wait_for(path: Path, words: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if words in path.read_text():
            return
        time.sleep(0.1)  # polling a file for a line, with a deadline
    raise AssertionError(f"{words!r} not in {path}: {path.read_text()[-2000:]}")
