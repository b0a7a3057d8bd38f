"""The database URL and log format without building ``Settings``: for the read-only commands
an operator types all day (``outbound why 42``, ``outbound customer show C1``).

Building ``Settings`` imports pydantic and pydantic-settings and validates every section
(~0.1 s); these commands need two keys. ``database_settings`` reads the same layers in the same
precedence (``[database] url`` / ``[log] format`` in ``outbound.toml`` < ``OUTBOUND_DATABASE_URL``
/ ``OUTBOUND_LOG_FORMAT`` < the ``--db`` flag) from the same config dir. Whenever it meets
anything it does not read itself (a bad value, a non-table section, a JSON
``OUTBOUND_DATABASE`` variable, an unknown key of the two sections) it hands over to the full
loader, so an error is worded exactly as everywhere else; keys of other sections are left to
the commands that use them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FORMATS = ("human", "json")
_KEYS = {"database": ("url",), "log": ("format",)}
_READ = ("outbound_database_url", "outbound_log_format")


@dataclass(frozen=True)
class DatabaseSettings:
    config_dir: Path
    database_url: str
    log_format: str


def database_settings(
    config_dir: str | Path | None = None,
    db_flag: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> DatabaseSettings:
    """``[database] url`` and ``[log] format`` as ``load_settings`` would give them."""
    from outbound.config.paths import find_config_dir

    directory = find_config_dir(config_dir)
    env = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
    values = _from_toml(directory / "outbound.toml")
    if values is None or any(_other_key(name) for name in env):
        return _full(config_dir, db_flag, environ)
    url = values.get("url", "sqlite:///outbound.db")
    log_format = values.get("format", "human")
    url = env.get("outbound_database_url", url)
    log_format = env.get("outbound_log_format", log_format)
    url = db_flag or url
    if not isinstance(url, str | int | float) or isinstance(url, bool):
        return _full(config_dir, db_flag, environ)
    if log_format not in _FORMATS:
        return _full(config_dir, db_flag, environ)
    return DatabaseSettings(directory, str(url), str(log_format))


def _other_key(name: str) -> bool:
    """A variable of these sections other than the two keys (``OUTBOUND_DATABASE`` as JSON, an
    unknown ``OUTBOUND_LOG_LEVEL``): the full loader reads or refuses it."""
    sections = ("outbound_database", "outbound_log")
    return name not in _READ and (
        name in sections or name.startswith(tuple(f"{s}_" for s in sections))
    )


def _from_toml(path: Path) -> dict[str, Any] | None:
    """The two keys from the file ({} when it is absent), or None for the full loader."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return None  # the full loader words the error
    out: dict[str, Any] = {}
    for section, keys in _KEYS.items():
        entries = data.get(section, {})
        if not isinstance(entries, dict) or set(entries) - set(keys):
            return None
        out.update(entries)
    return out


def _full(
    config_dir: str | Path | None, db_flag: str | None, environ: Mapping[str, str] | None
) -> DatabaseSettings:
    from outbound.config.settings import load_settings

    overrides = {"database": {"url": db_flag}} if db_flag else None
    settings = load_settings(config_dir, overrides, environ)
    return DatabaseSettings(settings.config_dir, settings.database_url, settings.log.format)
