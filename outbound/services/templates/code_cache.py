"""Compiled template code kept between processes, as Python keeps bytecode.

Loading the shipped folder compiles ~80 Jinja files (~0.2 s): every ``outbound send``,
``campaign run`` or ``serve`` paid it at start. An entry holds what ``sandbox`` makes of one
file — the code object, the names and calls lint reads, the block names — marshalled under a key
of everything the result depends on: the text, its name and path, the Python bytecode magic,
Jinja's version and the source of ``sandbox`` itself (its filters and its lint reading), so an
edited file or an upgrade simply misses.

Where: ``$XDG_CACHE_HOME/outbound/templates`` (``~/.cache/outbound/templates``), made private
(0700). As with any cache of code, it is used only when the directory is this user's own and
nobody else can write to it; a missing, foreign, unreadable or corrupt entry means the file is
compiled again, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import stat
import tempfile
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

log = logging.getLogger(__name__)

#: what one entry holds: (code, ((what, line, detail), ...), (block, ...))
Entry = tuple[CodeType, tuple[tuple[str, int, str], ...], tuple[str, ...]]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "outbound" / "templates"


def _tag() -> bytes:
    import jinja2

    from outbound.services.templates import sandbox

    own = Path(sandbox.__file__).read_bytes()
    return b"\0".join([MAGIC_NUMBER, jinja2.__version__.encode(), hashlib.sha256(own).digest()])


_TAG: bytes | None = None


def key(source: str, rel: str, filename: str) -> str:
    global _TAG
    if _TAG is None:
        _TAG = _tag()
    parts = (_TAG, rel.encode(), filename.encode(), source.encode("utf-8"))
    return hashlib.sha256(b"\0\0".join(parts)).hexdigest()


def _private(directory: Path) -> bool:
    """Ours and writable by nobody else (a cache of code someone else can write is theirs)."""
    try:
        info = directory.stat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _ready() -> Path | None:
    directory = cache_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return directory if _private(directory) else None


def load(entry_key: str) -> Entry | None:
    directory = _ready()
    if directory is None:
        return None
    path = directory / f"{entry_key}.bin"
    try:
        data = path.read_bytes()
        value: Any = marshal.loads(data)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError, TypeError) as exc:
        log.debug("template code cache entry %s unreadable (%s); compiling", path.name, exc)
        return None
    if _valid(value):
        return value  # type: ignore[no-any-return]
    log.debug("template code cache entry %s is not an entry; compiling", path.name)
    return None


def _valid(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 3
        and isinstance(value[0], CodeType)
        and isinstance(value[1], tuple)
        and isinstance(value[2], tuple)
    )


def store(entry_key: str, entry: Entry) -> None:
    """Write atomically (a reader never sees half an entry); a failure is only a miss later."""
    directory = _ready()
    if directory is None:
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(marshal.dumps(entry))
            os.replace(tmp, directory / f"{entry_key}.bin")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("template code cache not written (%s)", exc)
