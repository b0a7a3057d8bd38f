"""Build hook: the repository's default config and voice flows go into the wheel.

They stay at the top of the checkout (``config/``, ``voice_flows/``, ``templates/``: where
operators and the README look for them); a built package carries copies under
``outbound/defaults/`` (found by
``outbound.defaults.default_dir``). Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FOLDERS = {"config": "*.toml", "voice_flows": "*.yaml", "templates": "**/*.*"}  # = outbound.defaults.FOLDERS


class BuildWithDefaults(build_py):
    """``build_py`` plus the defaults; an editable install reads them from the checkout."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder, pattern in FOLDERS.items():
            base = ROOT / folder
            sources = sorted(p for p in base.glob(pattern) if p.is_file())
            if not sources:
                raise SystemExit(f"setup.py: no {folder}/{pattern} to package beside {ROOT}")
            target = Path(self.build_lib, "outbound", "defaults", folder)
            for source in sources:
                destination = target / source.relative_to(base)
                self.mkpath(str(destination.parent))
                self.copy_file(str(source), str(destination))


setup(cmdclass={"build_py": BuildWithDefaults})
