"""A wheel built from the repository is a working install outside the checkout.

The session's wheel (``built_wheel``: ``python -m build``) is installed into a fresh venv
without the system site packages, its dependencies resolved from the package index this
machine's pip is configured with (``installed_wheel``, tests/installed_wheel.py). Its
``outbound init``, ``db upgrade`` and ``db status`` run here in an empty directory that is not
the checkout, with no PYTHONPATH: every file the install needs must be in the wheel. Its
``outbound -vv demo`` is the session's one demo run (``demo_run``, tests/demo_run.py), read
here for what the install proves and by the demo group's other tests for what the demo did.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.demo_run import DemoRun
from tests.installed_wheel import InstalledWheel, run

pytestmark = pytest.mark.slow


def test_wheel_carries_the_default_config_flows_split_area_codes_and_migrations(
    built_wheel: Path,
) -> None:
    names = set(zipfile.ZipFile(built_wheel).namelist())
    expected = {
        *(f"outbound/defaults/config/{p.name}" for p in (ROOT / "config").glob("*.toml")),
        *(f"outbound/defaults/voice_flows/{p.name}" for p in (ROOT / "voice_flows").glob("*.yaml")),
        "outbound/store/migrations/env.py",
        "outbound/store/migrations/script.py.mako",
        *(
            f"outbound/store/migrations/versions/{p.name}"
            for p in (ROOT / "outbound/store/migrations/versions").glob("*.py")
        ),
        "outbound/policy/nanp_split_area_codes.toml",
    }
    assert {"outbound/defaults/config/policies.toml", "outbound/defaults/config/outbound.toml"} <= (
        expected
    )
    assert sorted(expected - names) == []


def test_installed_wheel_runs_init_db_upgrade_and_status_in_an_empty_directory(
    installed_wheel: InstalledWheel, tmp_path: Path
) -> None:
    assert installed_wheel.package.is_relative_to(installed_wheel.venv), installed_wheel.package
    work = tmp_path / "empty"
    work.mkdir()
    outbound = installed_wheel.outbound
    init = run([outbound, "init"], work, 120)
    assert "at schema" in init.stdout
    for name in ("outbound.toml", "policies.toml"):
        assert (work / "config" / name).read_bytes() == (ROOT / "config" / name).read_bytes()
    flows = sorted(p.name for p in (work / "voice_flows").glob("*.yaml"))
    assert flows == sorted(p.name for p in (ROOT / "voice_flows").glob("*.yaml"))

    run([outbound, "db", "upgrade"], work, 120)
    status = json.loads(run([outbound, "db", "status", "--json"], work, 60).stdout)
    assert status["ok"] is True and status["current"], status


def test_installed_wheels_demo_calls_live_and_verifies_its_chain_outside_the_checkout(
    installed_wheel: InstalledWheel, demo_run: DemoRun
) -> None:
    assert demo_run.outbound == installed_wheel.outbound  # the session's demo is the install's
    assert not demo_run.directory.is_relative_to(ROOT)
    assert "PYTHONPATH" not in demo_run.env
    assert "(chain verified)" in demo_run.stdout, demo_run.stdout
    (voice,) = demo_run.lines("voice:")
    assert "live SIP calls on 127.0.0.1" in voice, voice
    assert demo_run.db.is_file()
