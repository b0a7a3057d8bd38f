"""The repository stands alone and says what it needs: declared dependencies, named sources,
a README that describes the layout, a CI entry point that fails on a missing service.

(The wheel itself is built, installed and run in tests/integration/test_wheel_install.py.)
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "outbound"


def _imported_top_level_modules() -> dict[str, set[str]]:
    """Third-party top-level module -> the outbound files that import it."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != "outbound" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_directly_imported_distribution_is_declared_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]  # an optional feature's own (``otel``), not dev's
    required = [
        *project["dependencies"],
        *(r for name, rs in extras.items() if name != "dev" for r in rs),
    ]
    declared = {canonicalize_name(Requirement(r).name) for r in required}
    owners = packages_distributions()
    missing = sorted(
        f"{module} ({', '.join(canonicalize_name(d) for d in owners.get(module, ['?']))}) "
        f"imported by {sorted(files)[0]}"
        for module, files in _imported_top_level_modules().items()
        if not {canonicalize_name(d) for d in owners.get(module, [])} & declared
    )
    assert missing == []


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / name
        for name in listed
        if (ROOT / name).suffix in {".py", ".toml", ".yaml", ".md", ".sh", ".cfg", ".in", ""}
        and (ROOT / name).is_file()
    ]


def test_no_tracked_file_points_outside_the_repository() -> None:
    outside = re.compile(r"/work/|\b(?:ARCHITECTURE|COMPLIANCE|STYLE|VOICE_NOTES)\.md\b")
    offenders = sorted(
        f"{path.relative_to(ROOT)}:{number}"
        for path in _tracked_text_files()
        if path != Path(__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    )
    assert offenders == []


def test_policies_name_the_regulations_their_numbers_come_from() -> None:
    text = (ROOT / "config" / "policies.toml").read_text(encoding="utf-8")
    for source in (
        "47 CFR 64.1200",
        "16 CFR 310",
        "CTIA Messaging Principles",
        "GDPR (Regulation (EU) 2016/679) Art. 4(11) and 7",
        "Directive 2002/58/EC Art. 13",
        "PECR",
        "MIIT Order No. 31",
        "Advertising Law of the PRC Art. 43",
        "TRAI",
    ):
        assert source in text, source


def test_readme_layout_names_every_folder_of_the_package() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert [f for f in folders if not re.search(rf"^\s+{f}/\s", layout, re.M)] == []


def test_ci_entry_point_sets_ci_itself(tmp_path: Path) -> None:
    """.ci/run runs ``make test`` with CI=1 even where the caller did not set it."""
    fake_make = tmp_path / "make"
    fake_make.write_text('#!/bin/sh\necho "CI=${CI:-unset} $*"\n', encoding="utf-8")
    fake_make.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = f"{tmp_path}{os.pathsep}{env.get('PATH', '')}"
    run = subprocess.run(
        [str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60
    )
    assert (run.returncode, run.stdout.strip()) == (0, "CI=1 test")
