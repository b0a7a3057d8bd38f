"""The CLI starts fast: its root imports no heavy module, and ``--help`` lists every command
without importing a command module (timings themselves live in benchmarks/cli_start.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from outbound.cli.lazy import COMMANDS, load
from outbound.cli.root import cli

#: what `outbound --help` must not pay for (each costs 0.1-0.5 s to import)
HEAVY = (
    "phonenumbers.geocoder",
    "argon2",
    "apscheduler",
    "pjsua2",
    "fastapi",
    "pygal",
    "outbound.voice",
    "sqlalchemy",
    "pydantic",
    "alembic",
    "rich",
    "outbound.bootstrap",
    "outbound.policy",
)


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_root_imports_no_heavy_module() -> None:
    assert _heavy(_imported_after("import outbound.cli.root")) == []


def test_building_the_app_leaves_the_serving_parts_unimported() -> None:
    """Every command that needs the App imports ``bootstrap``; the status-webhook worker
    (aiohttp), the dispatcher, HTTP checkpoints (httpx) and the scheduler load only in the
    process part that runs them."""
    modules = _imported_after("import outbound.bootstrap.app")
    serving = ("aiohttp", "httpx", "apscheduler", "outbound.services.send.dispatch")
    assert sorted(m for m in modules if m.split(".")[0] in serving or m in serving) == []


def test_the_root_help_lists_every_command_without_importing_one() -> None:
    code = (
        "import sys\nfrom outbound.cli.root import cli\n"
        "try:\n    cli.main(['--help'], prog_name='outbound')\nexcept SystemExit:\n    pass"
    )
    modules = _imported_after(code)
    assert _heavy(modules) == []
    assert sorted(m for m in modules if m.startswith("outbound.cli.")) == [
        "outbound.cli.context",
        "outbound.cli.lazy",
        "outbound.cli.root",
    ]


def test_reading_a_notification_does_not_load_the_geocoder_argon2_or_the_scheduler() -> None:
    code = (
        "from outbound.cli.reports import explain\n"
        "from outbound.services.views.history import notification_report, customer_report\n"
        "from outbound.cli.customers import customer\n"
        "from outbound.store.db import make_engine, require_current_schema"
    )
    modules = _imported_after(code)
    for name in ("phonenumbers.geocoder", "argon2", "apscheduler", "fastapi", "alembic"):
        assert name not in modules, name


def _cli_in_fresh_python(
    args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``outbound *args`` run by ``main()`` in a new interpreter: its output (the exit code
    as ``exit N`` on stderr) and every module it imported."""
    code = (
        "import json, sys\nfrom outbound.cli.root import main\n"
        f"sys.argv = {['outbound', *args]!r}\n"
        "try:\n    main()\n    print('exit 0', file=sys.stderr)\n"
        "except SystemExit as exc:\n    print('exit', exc.code or 0, file=sys.stderr)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )
    return out, set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("args", [["why", "42"], ["customer", "show", "C1"]])
def test_an_everyday_read_runs_on_sqlalchemy_alone(tmp_path: Path, args: list[str]) -> None:
    """``why 42`` / ``customer show C1`` open the database, check its schema and run the query
    (exit 3: not found) without pydantic (settings), the policy engine, the geocoder, argon2,
    the scheduler, FastAPI, Alembic, the voice stack or the App."""
    from outbound.store.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    env = {"PATH": "/usr/bin:/bin", "OUTBOUND_CONFIG_DIR": str(tmp_path)}
    out, modules = _cli_in_fresh_python(["--db", url, *args], tmp_path, env)
    assert "not found" in out.stderr and "exit 3" in out.stderr, out.stderr
    assert "sqlalchemy" in modules  # it did open the database
    loaded = [m for m in _heavy(modules) if not m.startswith(("sqlalchemy", "rich"))]
    assert loaded == []
    assert "pydantic_settings" not in modules


def test_showing_a_customer_masks_the_phone_without_phonenumbers_metadata(tmp_path: Path) -> None:
    """``customer show`` of a real customer prints the masked phone: the country code comes
    from masking's own table, not from importing phonenumbers (~20 ms)."""
    config = Path(__file__).resolve().parents[2] / "config"
    env = {"PATH": "/usr/bin:/bin", "OUTBOUND_CONFIG_DIR": str(config)}
    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    (tmp_path / "c.csv").write_text(
        "external_id,phone,timezone,locale,preference,opt_in\n"
        "C1,+380441234567,Europe/Kyiv,uk,sms,sms:transactional\n",
        encoding="utf-8",
    )
    outbound = str(Path(sys.executable).with_name("outbound"))
    for args in (["db", "upgrade"], ["customer", "import", "c.csv"]):
        subprocess.run(
            [outbound, "--db", url, *args],
            cwd=tmp_path,
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
        )
    out, modules = _cli_in_fresh_python(["--db", url, "customer", "show", "C1"], tmp_path, env)
    assert "exit 0" in out.stderr, out.stderr
    assert "+380*****4567" in out.stdout and "+380441234567" not in out.stdout
    assert sorted(m for m in modules if m.split(".")[0] == "phonenumbers") == []


def test_the_listed_short_help_of_each_command_is_the_commands_own() -> None:
    for name, (_, _, listed) in COMMANDS.items():
        command = load(name)
        own = command.get_short_help_str(200)
        assert click.utils.make_default_short_help(listed, 200) == own, name


def test_every_command_of_the_cli_is_reachable_by_its_name() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    expected = (
        "api audit call campaign consent customer db demo endpoint flow init providers send"
        " serve source status templates user why"
    )
    assert names == expected.split()
    assert all(cli.get_command(ctx, name) is not None for name in names)


def test_building_the_app_for_a_command_does_not_load_the_scheduler_or_the_voice_stack() -> None:
    modules = _imported_after("import outbound.bootstrap")
    for name in ("apscheduler", "phonenumbers.geocoder", "argon2", "fastapi", "pjsua2", "pygal"):
        assert name not in modules, name
