"""Build hook: the repository's default config and voice flows go into the wheel.

They stay at the top of the checkout (``config/``, ``voice_flows/``: where operators and the
README look for them); a built package carries copies under ``outbound/defaults/`` (found by
``outbound.defaults.default_dir``). Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FOLDERS = {"config": "*.toml", "voice_flows": "*.yaml"}  # = outbound.defaults.FOLDERS


class BuildWithDefaults(build_py):
    """``build_py`` plus the defaults; an editable install reads them from the checkout."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder, pattern in FOLDERS.items():
            sources = sorted((ROOT / folder).glob(pattern))
            if not sources:
                raise SystemExit(f"setup.py: no {folder}/{pattern} to package beside {ROOT}")
            target = Path(self.build_lib, "outbound", "defaults", folder)
            self.mkpath(str(target))
            for source in sources:
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildWithDefaults})
