"""Publish a signed audit checkpoint where the database cannot reach it: a file, stdout, a URL.

A file is replaced atomically (write beside it, fsync, rename), so a reader never sees half a
checkpoint; a URL gets the checkpoint as a JSON POST, and anything but a 2xx is an error.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine

from outbound.config.audit_key import HINT
from outbound.domain.errors import ConfigError, OutboundError, ValidationError
from outbound.store.anchor import Checkpoint, parse_checkpoint, take_checkpoint


class CheckpointError(OutboundError):
    """A checkpoint could not be written to its target."""


def shown(target: str) -> str:
    """The target for messages: a URL without its credentials or query."""
    if not target.startswith(("http://", "https://")):
        return target
    parts = urlsplit(target)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class Checkpoints:
    """Signs the audit head with the audit key and publishes it (the scheduler's periodic job,
    ``serve``'s last act, ``outbound audit checkpoint``)."""

    engine: Engine
    key: bytes | None
    clock: Callable[[], datetime]
    #: ``[audit] checkpoint_to``: where a checkpoint goes when no target is given ("" = none)
    default_target: str

    @property
    def periodic(self) -> bool:
        """Whether the scheduler writes them: a key to sign with and a place to put them."""
        return bool(self.key and self.default_target)

    def write(self, target: str | None = None) -> Checkpoint:
        """Sign the audit head and publish it to ``target`` (default ``[audit] checkpoint_to``)."""
        if self.key is None:
            raise ConfigError(f"no audit key configured, so no checkpoint can be signed; {HINT}")
        with self.engine.begin() as conn:
            checkpoint = take_checkpoint(conn, self.key, self.clock())
        publish(checkpoint, target or self.default_target)
        return checkpoint


def publish(checkpoint: Checkpoint, target: str, timeout: float = 10.0) -> None:
    if target == "-":
        sys.stdout.write(checkpoint.to_json() + "\n")
        sys.stdout.flush()
    elif target.startswith(("http://", "https://")):
        _post(checkpoint, target, timeout)
    else:
        _write(checkpoint, Path(target))


def _post(checkpoint: Checkpoint, url: str, timeout: float) -> None:
    import httpx  # only where checkpoints go to a URL: not on every command's start

    try:
        response = httpx.post(url, json=checkpoint.as_dict(), timeout=timeout)
    except httpx.HTTPError as exc:
        raise CheckpointError(
            f"checkpoint POST to {shown(url)} failed ({type(exc).__name__}: {exc})"
        ) from None
    if not response.is_success:
        raise CheckpointError(
            f"checkpoint POST to {shown(url)} answered {response.status_code}; "
            "the checkpoint was not stored"
        )


def _write(checkpoint: Checkpoint, path: Path) -> None:
    temporary: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        temporary = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(checkpoint.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise CheckpointError(
            f"checkpoint file {str(path)!r} cannot be written ({exc.strerror}); "
            "give a writable path with --to (or [audit] checkpoint_to)"
        ) from None


def scheduled_file(target: str) -> Path | None:
    """The file ``serve`` writes checkpoints to ([audit] checkpoint_to), when it is a local file
    that exists (stdout and URLs cannot be read back)."""
    if not target or target == "-" or target.startswith(("http://", "https://")):
        return None
    path = Path(target)
    return path if path.is_file() else None


def read_checkpoint(key: bytes, path: Path) -> Checkpoint:
    """A checkpoint file read back; refused unless the configured audit key signed it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ValidationError(f"checkpoint {str(path)!r} cannot be read ({reason})") from None
    return parse_checkpoint(text, key, repr(str(path)))
