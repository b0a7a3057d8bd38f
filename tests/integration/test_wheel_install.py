"""A wheel built from the repository is a working install outside the checkout.

Builds the wheel (``python -m build``), installs it into a fresh venv without the system site
packages (its dependencies come from the package index this machine's pip is configured with),
and runs ``outbound init``, ``outbound db upgrade`` and ``outbound demo`` in an empty directory
that is not the checkout, with no PYTHONPATH: every file the install needs must be in the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

INSTALL_SECONDS = 900  # a cold pip cache downloads ~100 MB of wheels


def _run(cmd: Sequence[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT], ROOT, 600)
    (built,) = out.glob("outbound-*.whl")
    return built


def test_wheel_carries_the_default_config_flows_split_area_codes_and_migrations(
    wheel: Path,
) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
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


def test_installed_wheel_runs_init_db_upgrade_and_demo_in_an_empty_directory(
    wheel: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / "bin" / "python"
    # no bytecode at install: what the commands below import is compiled when first imported
    install = [python, "-m", "pip", "install", "--quiet", "--no-compile", wheel]
    _run(install, tmp_path, INSTALL_SECONDS)
    where = _run([python, "-c", "import outbound; print(outbound.__file__)"], tmp_path, 60)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout

    work = tmp_path / "empty"
    work.mkdir()
    outbound = env_dir / "bin" / "outbound"
    init = _run([outbound, "init"], work, 120)
    assert "at schema" in init.stdout
    for name in ("outbound.toml", "policies.toml"):
        assert (work / "config" / name).read_bytes() == (ROOT / "config" / name).read_bytes()
    flows = sorted(p.name for p in (work / "voice_flows").glob("*.yaml"))
    assert flows == sorted(p.name for p in (ROOT / "voice_flows").glob("*.yaml"))

    _run([outbound, "db", "upgrade"], work, 120)
    status = json.loads(_run([outbound, "db", "status", "--json"], work, 60).stdout)
    assert status["ok"] is True and status["current"], status

    demo = _run([outbound, "demo"], work, 600)
    assert "(chain verified)" in demo.stdout, demo.stdout
    assert (work / "outbound-demo.db").is_file()
