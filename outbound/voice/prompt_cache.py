"""Where prompt audio is cached, and the prompts of one customer (deleted by erasure).

No speech engine is imported here: erasure uses it without loading gTTS or miniaudio.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    """The checkout's ``audio/cache`` (git-ignored); for an installed wheel, the user's cache
    directory (``$XDG_CACHE_HOME/outbound/tts``), never the package's own site-packages."""
    if (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT / "audio" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "outbound" / "tts"


CUSTOMERS_DIR = "customers"


def customer_prompt_dir(cache_dir: str | Path, customer_id: int) -> Path:
    base = Path(cache_dir) if cache_dir else default_cache_dir()
    return base / CUSTOMERS_DIR / str(int(customer_id))


def forget_customer(cache_dir: str | Path, customer_id: int) -> int:
    """Delete the prompts rendered for one customer; returns how many files went."""
    where = customer_prompt_dir(cache_dir, customer_id)
    if not where.is_dir():
        return 0
    count = sum(1 for f in where.iterdir() if f.is_file())
    shutil.rmtree(where, ignore_errors=True)
    return count
