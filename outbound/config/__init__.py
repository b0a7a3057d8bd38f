"""Settings: typed sections, one loader, one precedence.

Defaults (``sections.py``) < ``config/outbound.toml`` < ``OUTBOUND_<SECTION>_<KEY>`` environment
variables < CLI flags. Read typed values (``settings.worker.batch_size``); a bad value is a
``ConfigError`` naming its origin, the ``[section] key``, the value and the expected type.

The names below are imported on first use: ``outbound.config.quick`` (the two keys the
read-only commands need) must not pay for pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outbound.config.paths import find_config_dir
    from outbound.config.sections import (
        ApiSection,
        ApnsSection,
        AuditSection,
        BrandSection,
        ConsoleSection,
        DatabaseSection,
        ExpirySection,
        LadderSection,
        PushSection,
        SchedulerSection,
        Section,
        SmsSection,
        VoiceSection,
        WorkerSection,
    )
    from outbound.config.settings import Settings, load_settings

_WHERE = {
    "find_config_dir": "outbound.config.paths",
    "Settings": "outbound.config.settings",
    "load_settings": "outbound.config.settings",
}

__all__ = [
    "ApiSection",
    "ApnsSection",
    "AuditSection",
    "BrandSection",
    "ConsoleSection",
    "DatabaseSection",
    "ExpirySection",
    "LadderSection",
    "PushSection",
    "SchedulerSection",
    "Section",
    "Settings",
    "SmsSection",
    "VoiceSection",
    "WorkerSection",
    "find_config_dir",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'outbound.config' has no attribute {name!r}")
    module = importlib.import_module(_WHERE.get(name, "outbound.config.sections"))
    value = getattr(module, name)
    globals()[name] = value
    return value
