"""What the API's routes need, and nothing more: the one object ``create_app`` receives.

The process mains (``outbound.mains.serve``) build it from the composition root's ``App``; the
API never sees ``App`` itself, so it cannot reach for a scheduler, a dispatcher or a channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from outbound.config.sections import ApiSection, AuditSection, ConsoleSection
from outbound.domain.pseudonyms import optional_key
from outbound.domain.push_targets import PushTargets
from outbound.policy.model import Rules
from outbound.services.people.inbound import DbSmsInbound
from outbound.services.send.context import Expiry, SendContext
from outbound.services.templates.sizes import SizeLimits


@dataclass(frozen=True)
class ProviderHooks:
    """What the SMS providers' callback routes need: the inbound service (receipts, MO,
    opt-outs) and each provider's signing secret ("" = that provider is not configured)."""

    inbound: DbSmsInbound
    public_url: str
    twilio_auth_token: str = field(default="", repr=False)
    vonage_signature_secret: str = field(default="", repr=False)
    vonage_signature_method: str = "md5hash"
    aliyun_callback_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class ApiDeps:
    engine: Engine
    clock: Callable[[], datetime]
    #: the send use case's collaborators: policy tables, expiry windows, message size limits
    rules: Rules
    expiry: Expiry
    limits: SizeLimits
    #: the same, as the one context object the send services take
    send: SendContext
    #: where a customer's push endpoints may point (``[push] allowed_hosts``)
    push_targets: PushTargets
    #: the settings sections the routes read: ``[api]`` deadlines, ``[console]``, ``[audit]``
    api: ApiSection
    console: ConsoleSection
    audit: AuditSection
    #: for readiness messages; may hold a password, so shown only through ``safe_url``
    database_url: str
    #: HMAC key of the audit chain (None = chain not anchored)
    audit_key: bytes | None
    #: ``[privacy] erasure_key`` as written ("" when unset)
    erasure_secret: str
    #: ``[voice] tts_cache_dir``: a forgotten customer's cached prompts are deleted from it
    prompts_dir: str
    #: the SMS providers' callbacks (None: no provider configured, their routes answer 404)
    providers: ProviderHooks | None = None
    #: ``[privacy] exports_dir``: where a shop's ``customers/data_request`` export is written
    exports_dir: str = "exports"

    def erasure_key(self) -> bytes | None:
        """The key that hashes the numbers erasures keep (None when unset)."""
        return optional_key(self.erasure_secret)

    def send_context(self) -> SendContext:
        """The send use case's context, built once by the composition root."""
        return self.send
