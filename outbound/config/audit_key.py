"""The audit key: from ``OUTBOUND_AUDIT_KEY`` or a key file, never from the database.

Precedence: ``[audit] key`` (the environment, in practice) < nothing else; else ``[audit]
key_file``, which must then exist; else ``audit.key`` in the config dir if it exists (``outbound
init`` writes one there); else no key, and the chain is only hash-linked (``serve`` and ``audit
verify`` say so, ``audit checkpoint`` refuses).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from outbound.config.settings import Settings
from outbound.domain.errors import ConfigError

MIN_KEY_CHARS = 32
KEY_FILE_NAME = "audit.key"
HINT = "create one with `outbound init`, or set OUTBOUND_AUDIT_KEY to 32+ random characters"


def key_path(settings: Settings) -> Path:
    """Where the key file is (or would be written by ``outbound init``)."""
    configured = settings.audit.key_file
    return Path(configured) if configured else settings.config_dir / KEY_FILE_NAME


def load_audit_key(settings: Settings) -> bytes | None:
    """The configured key's bytes, None when none is configured, or a ConfigError."""
    given = settings.audit.key.get_secret_value()
    if given:
        return _checked(given, "[audit] key (OUTBOUND_AUDIT_KEY)")
    path = key_path(settings)
    if not settings.audit.key_file and not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"[audit] key_file {str(path)!r} does not exist; {HINT}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"audit key file {str(path)!r} cannot be read ({reason})") from None
    return _checked(text.strip(), f"audit key file {str(path)!r}")


def _checked(text: str, where: str) -> bytes:
    if len(text) < MIN_KEY_CHARS:
        raise ConfigError(
            f"{where} holds {len(text)} characters; an audit key needs at least "
            f"{MIN_KEY_CHARS}: {HINT}"
        )
    return text.encode("utf-8")


def create_key_file(path: Path) -> bool:
    """Write a new random key to ``path`` (mode 0600) unless one is there; True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True
