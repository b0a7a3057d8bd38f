"""The wheel built from the checkout and installed into a fresh venv, once per test session.

``python -m build --wheel`` builds it; a fresh venv without the system site packages
(``python -m venv``) gets it and its declared dependencies, resolved from the package index;
the commands run with no PYTHONPATH, no VIRTUAL_ENV and no ``OUTBOUND_*`` settings.
tests/integration/test_wheel_install.py checks what the wheel carries and runs ``outbound
init``, ``db upgrade`` and ``db status`` with it in an empty directory; the session's one
``outbound -vv demo`` (tests/demo_run.py) is this install's ``outbound`` too, so one demo run
proves the installed demo and feeds the tests that read it.

The installer is uv (the dev extra's: ``uv pip install outbound-*.whl``), not pip: it reads the
same metadata (the wheel's Requires-Dist, Requires-Python and markers: the same 88
distributions at the same versions as pip resolved on 2026-12-06) but fetches in parallel,
10-15 s where pip took 35 s, and the venv needs no pip of its own (ensurepip: 4 s). uv reads
its own settings (``UV_INDEX_URL``, ...), not pip.conf: with none, the index is PyPI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

BUILD_SECONDS = 600
INSTALL_SECONDS = 900  # a cold cache downloads ~150 MB of wheels


def user_env() -> dict[str, str]:
    """A user's shell: nothing that points at the checkout or its venv, no outbound settings."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("OUTBOUND_")}


def run(cmd: Sequence[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in a user's environment; its output in the failure message."""
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def build_wheel(out: Path) -> Path:
    """``python -m build --wheel`` of the checkout (build isolation: pyproject's [build-system])."""
    run([sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT], ROOT, BUILD_SECONDS)
    (built,) = out.glob("outbound-*.whl")
    return built


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    venv: Path
    package: (
        Path  # the installed ``outbound`` package directory, where ``import outbound`` found it
    )

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def outbound(self) -> Path:
        return self.venv / "bin" / "outbound"


def install(wheel: Path, where: Path) -> InstalledWheel:
    """A fresh venv at ``where`` (no system site packages) with ``wheel`` and its dependencies."""
    from uv import find_uv_bin  # the dev extra's uv: only the tests that install import it

    venv.create(where, with_pip=False, system_site_packages=False)
    python = where / "bin" / "python"
    # no bytecode at install (uv's default): what the commands import is compiled when imported
    install = [find_uv_bin(), "pip", "install", "--quiet", "--python", python, wheel]
    run(install, where, INSTALL_SECONDS)
    found = run([python, "-c", "import outbound; print(outbound.__file__)"], where, 60)
    return InstalledWheel(wheel, where, Path(found.stdout.strip()).parent)
