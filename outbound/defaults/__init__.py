"""Where the shipped defaults live: ``config/*.toml``, ``voice_flows/*.yaml`` and
``templates/<kind>/*.j2`` (with ``templates/providers.toml``, ``templates/README.md``).

In a checkout they are the repository's ``config/``, ``voice_flows/`` and ``templates/`` folders. A wheel
carries copies inside this package (``outbound/defaults/config``, ``outbound/defaults/voice_flows``;
``setup.py`` puts them there at build time), so an installed ``outbound`` works outside the
checkout and ``outbound init`` copies the defaults out of it.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parents[1]

#: the folders of defaults and the files each holds
FOLDERS = {"config": "*.toml", "voice_flows": "*.yaml", "templates": "**/*.*"}


def default_dir(folder: str) -> Path:
    """The shipped ``folder`` (``config``, ``voice_flows`` or ``templates``): packaged copy
    first, else the checkout's."""
    if folder not in FOLDERS:
        raise ValueError(f"unknown defaults folder {folder!r}; expected one of {sorted(FOLDERS)}")
    packaged = _PACKAGE / folder
    return packaged if packaged.is_dir() else _CHECKOUT / folder
