"""Where the config directory is (no pydantic: the quick reader of ``quick.py`` uses it too)."""

from __future__ import annotations

import os
from pathlib import Path

from outbound.defaults import default_dir
from outbound.domain.errors import ConfigError

SOURCE_CONFIG = default_dir("config")


def find_config_dir(explicit: str | Path | None = None) -> Path:
    for candidate in (explicit, os.environ.get("OUTBOUND_CONFIG_DIR")):
        if candidate:
            path = Path(candidate)
            if not path.is_dir():
                raise ConfigError(
                    f"config dir {str(path)!r} does not exist; pass --config-dir DIR with "
                    "outbound.toml and policies.toml, or unset OUTBOUND_CONFIG_DIR"
                )
            return path
    local = Path("config")
    if (local / "policies.toml").is_file():
        return local
    return SOURCE_CONFIG
