"""Composition root: Settings -> wired objects. Nothing is wired at import time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from outbound.channels.base import ChannelPort
from outbound.channels.log import LogChannel, OutcomeRule, default_outcome
from outbound.config import Settings
from outbound.config.audit_key import load_audit_key
from outbound.domain.clock import system_clock
from outbound.domain.errors import ConfigError
from outbound.domain.pseudonyms import optional_key
from outbound.domain.values import Channel, RetryPolicy
from outbound.policy import load_rules_file
from outbound.policy.ladder import Ladder
from outbound.policy.messaging import MessagingRules, load_messaging
from outbound.policy.model import Rules
from outbound.services.checkpoints import Checkpoints
from outbound.services.send.context import Expiry, SendContext
from outbound.services.send.outcomes import SilentReceipts
from outbound.services.send.receipts import Escalation, escalation_delays
from outbound.services.templates.lint import LintReport, lint
from outbound.services.templates.loader import TemplateSet, TemplateStore
from outbound.services.templates.render import MessageRenderer, templates_dir
from outbound.services.templates.sizes import SizeLimits
from outbound.store.anchor import KEY_OPTION
from outbound.store.db import make_engine, require_current_schema
from outbound.store.sendlog import DbSendLog

if TYPE_CHECKING:  # imported by the process parts that run them, not by every command
    from outbound.scheduling.scheduler import Scheduler  # APScheduler
    from outbound.services.endpoints.worker import DeliveryWorker  # aiohttp
    from outbound.services.send.dispatch import AfterResult, Dispatcher, FaultLog


@dataclass
class App:
    settings: Settings
    engine: Engine
    rules: Rules
    expiry: Expiry
    ladder: Ladder
    clock: Callable[[], datetime]
    #: HMAC key of the audit chain (never stored in the database); None = chain not anchored
    audit_key: bytes | None = None
    _adapters: dict[Channel, ChannelPort] = field(default_factory=dict)
    _faults: FaultLog | None = None  # one line per interval, shared by all workers
    _messaging: MessagingRules | None = None
    _templates: TemplateStore | None = None
    _send: SendContext | None = None

    def send_context(self) -> SendContext:
        """The send use case's collaborators (clock, policy tables, expiry, size limits),
        built once and handed to every caller of the send path."""
        if self._send is None:
            self._send = SendContext(
                clock=self.clock, rules=self.rules, expiry=self.expiry, limits=self.limits
            )
        return self._send

    def channels(self) -> dict[Channel, ChannelPort]:
        """The configured adapters: the log sink unless ``[sms] adapter`` / ``routes`` name a
        provider (``bootstrap.sms``) or
        ``[push] adapter = "real"``.

        A real adapter is built once per process and shared by its worker threads.
        """
        chosen = self.log_channels()
        sms = self.settings.sms
        if sms.adapter != "log" or sms.routes:
            if Channel.SMS not in self._adapters:
                from outbound.bootstrap.sms import build_sms

                self._adapters[Channel.SMS] = build_sms(
                    self.settings,
                    self.engine,
                    self.rules,
                    self.ladder,
                    self.clock,
                    chosen[Channel.SMS],
                )
            chosen[Channel.SMS] = self._adapters[Channel.SMS]
        if self.settings.push.adapter == "real":
            if Channel.PUSH not in self._adapters:
                from outbound.bootstrap.push import build_push

                self._adapters[Channel.PUSH] = build_push(self.settings, self.engine, self.clock)
            chosen[Channel.PUSH] = self._adapters[Channel.PUSH]
        return chosen

    def erasure_key(self) -> bytes | None:
        """``[privacy] erasure_key`` (None when unset): hashes the numbers erasures keep."""
        return optional_key(self.settings.privacy.erasure_key.get_secret_value())

    def throughputs(self) -> dict[str, float]:
        """Units per second per channel for the preview's forecast: SMS parts ([sms]
        throughput_per_second), push requests ([push] forecast_per_second), call setups
        ([voice] calls_per_second)."""
        s = self.settings
        return {
            "sms": s.sms.throughput_per_second,
            "push": s.push.forecast_per_second,
            "voice": s.voice.calls_per_second,
        }

    def log_channels(self, outcome: OutcomeRule = default_outcome) -> dict[Channel, ChannelPort]:
        sink = DbSendLog(self.engine)
        return {c: LogChannel(sink, c, outcome, self.clock) for c in Channel}

    def webhook_worker(self) -> DeliveryWorker:
        """The delivery worker of status webhooks (``[endpoints]``), started by ``serve``."""
        from outbound.services.endpoints.worker import DeliveryWorker

        return DeliveryWorker(self.engine, self.settings.endpoints, self.clock)

    def dispatcher(
        self,
        channels: dict[Channel, ChannelPort] | None = None,
        *,
        actor: str = "dispatcher",
        after_result: AfterResult | None = None,
    ) -> Dispatcher:
        from outbound.services.send.dispatch import Dispatcher, FaultLog

        if self._faults is None:
            self._faults = FaultLog()
        settings = self.settings
        return Dispatcher(
            engine=self.engine,
            rules=self.rules,
            channels=channels if channels is not None else self.channels(),
            ladder=self.ladder,
            clock=self.clock,
            batch=settings.worker.batch_size,
            lease=timedelta(seconds=settings.worker.lease_seconds),
            reap_every=timedelta(seconds=settings.scheduler.reap_seconds),
            brand=settings.brand.name,
            messaging=self.messaging(),
            actor=actor,
            after_result=after_result,
            faults=self._faults,
            renderer=self.renderer(),
        )

    def templates(self) -> TemplateStore:
        """The message templates of ``[templates] dir`` (read once; ``reload_templates``)."""
        if self._templates is None:
            t = self.settings.templates
            self._templates = TemplateStore(templates_dir(t.dir), t.default_locale)
        return self._templates

    def renderer(self) -> MessageRenderer:
        """Brand, footer rules and templates as dispatch and ``campaign preview`` use them."""
        clock = self.clock
        return MessageRenderer(
            self.rules,
            self.messaging(),
            self.settings.brand.name,
            self.templates(),
            today=lambda: clock().date(),
        )

    def lint_templates(self, templates: TemplateSet | None = None) -> LintReport:
        s = self.settings
        return lint(
            templates or self.templates().current,
            brand=s.brand.name,
            max_parts=s.sms.max_parts,
            configured=tuple(s.templates.locales),
        )

    def check_templates(self, templates: TemplateSet | None = None) -> None:
        """ConfigError naming every problem (``serve`` refuses to start with one)."""
        report = self.lint_templates(templates)
        if not report.ok:
            chosen = templates or self.templates().current
            listed = "\n  ".join(str(p) for p in report.problems[:20])
            more = len(report.problems) - 20
            raise ConfigError(
                f"templates in {chosen.directory} have {len(report.problems)} problem(s):"
                f"\n  {listed}"
                + (f"\n  … and {more} more" if more > 0 else "")
                + "\nfix them (`outbound templates lint`), then start again"
            )

    def reload_templates(self) -> TemplateSet:
        """Read the templates again and use them from the next batch on; a set with a
        problem is refused (ConfigError) and the one in use stays."""
        store = self.templates()
        fresh = store.fresh()
        self.check_templates(fresh)
        store.swap(fresh)
        return fresh

    @property
    def limits(self) -> SizeLimits:
        """How long a message may be: checked when an event or ``send`` arrives."""
        sms, push = self.settings.sms, self.settings.push
        return SizeLimits(
            sms_parts=sms.max_parts,
            webpush_bytes=push.webpush_max_bytes,
            fcm_bytes=push.fcm_max_bytes,
            push_title=push.title,
            brand=self.settings.brand.name,
            templates=self.templates(),
        )

    def messaging(self) -> MessagingRules:
        """Per-jurisdiction keywords and footer channels (policies.toml), read once."""
        if self._messaging is None:
            self._messaging = load_messaging(self.settings.policies_file)
        return self._messaging

    def scheduler(self) -> Scheduler:
        from outbound.scheduling.scheduler import Scheduler

        sched, escalation = self.settings.scheduler, self.escalation()
        return Scheduler(
            engine=self.engine,
            send=self.send_context(),
            reap_seconds=sched.reap_seconds,
            reload_seconds=sched.reload_seconds,
            lock_file=sched.lock_file,
            housekeeping=self._housekeeping(escalation),
            periodic=self.scheduler_periodic(),
        )

    def scheduler_periodic(self) -> dict[str, tuple[float, Callable[[], object]]]:
        checkpoints = self.checkpoints()
        if not checkpoints.periodic:
            return {}
        return {"audit_checkpoint": (self.settings.audit.checkpoint_seconds, checkpoints.write)}

    def checkpoints(self) -> Checkpoints:
        """Signed audit checkpoints, published to ``[audit] checkpoint_to`` by default."""
        return Checkpoints(
            self.engine, self.audit_key, self.clock, self.settings.audit.checkpoint_to
        )

    def escalation(self) -> Escalation:
        """Unopened pushes -> next channel, per ``[push] escalate_unopened_minutes_<kind>``."""
        delays = escalation_delays(self.settings.push.escalate_unopened_minutes())
        return Escalation(self.engine, delays, self.ladder, self.clock)

    def silent_receipts(self) -> SilentReceipts:
        """``sent`` deliveries without a receipt for ``[sms] receipt_timeout_hours``: settled."""
        older_than = timedelta(hours=self.settings.sms.receipt_timeout_hours)
        return SilentReceipts(self.engine, older_than, self.ladder, self.clock)

    def _housekeeping(self, escalation: Escalation) -> dict[str, Callable[[], object]]:
        jobs: dict[str, Callable[[], object]] = {"silent_receipts": self.silent_receipts().run_once}
        if escalation.delays:
            jobs["escalate"] = escalation.run_once
        return jobs

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = system_clock,
    check_schema: bool = True,
    engine: Engine | None = None,
) -> App:
    engine = engine or make_engine(settings.database_url)
    audit_key = load_audit_key(settings)
    if audit_key is not None:  # audit.append reads it from every connection of this engine
        engine = engine.execution_options(**{KEY_OPTION: audit_key})
    if check_schema:
        require_current_schema(engine, settings.database_url)
    rules = load_rules_file(settings.policies_file, list(settings.operator_caps))
    worker, ladder, expiry = settings.worker, settings.ladder, settings.expiry
    retry = RetryPolicy(
        max_attempts=worker.max_attempts,
        base=timedelta(seconds=worker.retry_base_seconds),
        ceiling=timedelta(seconds=worker.retry_ceiling_seconds),
    )
    return App(
        settings=settings,
        engine=engine,
        rules=rules,
        expiry=Expiry(
            shipping=timedelta(hours=expiry.shipping_hours),
            price_drop=timedelta(hours=expiry.price_drop_hours),
        ),
        ladder=Ladder(
            next_rung_delay=timedelta(seconds=ladder.next_rung_delay_seconds),
            voice_retries=ladder.voice_no_answer_retries,
            voice_busy_retries=ladder.voice_busy_retries,
            voice_voicemail_retries=ladder.voice_voicemail_retries,
            voice_unsure_retries=ladder.voice_unsure_retries,
            voice_retry_delay=timedelta(seconds=ladder.voice_retry_delay_seconds),
            retry=retry,
        ),
        clock=clock,
        audit_key=audit_key,
    )
