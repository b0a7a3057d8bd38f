"""Settings: typed sections, one loader, one precedence.

Defaults (``sections.py``) < ``config/outbound.toml`` < ``OUTBOUND_<SECTION>_<KEY>`` environment
variables < CLI flags. Read typed values (``settings.worker.batch_size``); a bad value is a
``ConfigError`` naming its origin, the ``[section] key``, the value and the expected type.
"""

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
from outbound.config.settings import Settings, find_config_dir, load_settings

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
