"""Builds the SMPP adapter from the settings, with its shared throttle and inbound handler.

Called by ``bootstrap.App.channels()`` only when ``[sms] adapter = "smpp"``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from outbound.channels.sms import SmppSettings, SmppSms
from outbound.channels.throttle import Throttle
from outbound.config import Settings, SmsSection
from outbound.policy.ladder import Ladder
from outbound.policy.messaging import load_messaging
from outbound.policy.model import Rules
from outbound.services.people.inbound import DbSmsInbound, Program
from outbound.store.throttle import DbTokenBucket


def smpp_settings(sms: SmsSection) -> SmppSettings:
    """The SMPP link of ``[sms]`` (host, bind credentials, sender id, timers)."""
    return SmppSettings(
        host=sms.host,
        port=sms.port,
        system_id=sms.system_id,
        password=sms.password.get_secret_value(),
        system_type=sms.system_type,
        source_addr=sms.source_addr,
        source_ton=sms.source_ton,
        source_npi=sms.source_npi,
        enquire_link_seconds=sms.enquire_link_seconds,
        response_timeout_seconds=sms.response_timeout_seconds,
        reconnect_max_seconds=sms.reconnect_max_seconds,
        window=sms.window,
    )


def build_smpp_sms(
    settings: Settings,
    engine: Engine,
    rules: Rules,
    ladder: Ladder,
    clock: Callable[[], datetime],
) -> SmppSms:
    sms = settings.sms
    link = smpp_settings(sms)
    bucket = DbTokenBucket(
        engine,
        key=f"smpp:{link.host}:{link.port}:{link.system_id}",
        rate=sms.throughput_per_second,
        burst=sms.burst,
    )
    throttle = Throttle(bucket, max_wait=link.response_timeout_seconds)
    program = Program(
        name=sms.program, frequency=sms.frequency, support=sms.support, brand=settings.brand.name
    )
    inbound = DbSmsInbound(
        engine, rules, load_messaging(settings.policies_file), program, ladder, clock
    )
    return SmppSms(link, throttle, inbound)
