"""Builds the SMPP adapter from the settings, with its shared throttle and inbound handler.

Called by ``bootstrap.App.channels()`` only when ``[sms] adapter = "smpp"``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from outbound.channels.sms import SmppSettings, SmppSms
from outbound.channels.throttle import Throttle
from outbound.config import Settings
from outbound.policy.ladder import Ladder
from outbound.policy.messaging import load_messaging
from outbound.policy.model import Rules
from outbound.services.inbound import DbSmsInbound, Program
from outbound.store.throttle import DbTokenBucket


def build_smpp_sms(
    settings: Settings,
    engine: Engine,
    rules: Rules,
    ladder: Ladder,
    clock: Callable[[], datetime],
) -> SmppSms:
    sms = settings.values["sms"]
    link = SmppSettings(
        host=str(sms["host"]),
        port=int(sms["port"]),
        system_id=str(sms["system_id"]),
        password=str(sms["password"]),
        system_type=str(sms["system_type"]),
        source_addr=str(sms["source_addr"]),
        source_ton=int(sms["source_ton"]),
        source_npi=int(sms["source_npi"]),
        enquire_link_seconds=float(sms["enquire_link_seconds"]),
        response_timeout_seconds=float(sms["response_timeout_seconds"]),
        reconnect_max_seconds=float(sms["reconnect_max_seconds"]),
    )
    bucket = DbTokenBucket(
        engine,
        key=f"smpp:{link.host}:{link.port}:{link.system_id}",
        rate=float(sms["throughput_per_second"]),
        burst=float(sms["burst"]),
    )
    throttle = Throttle(bucket, max_wait=link.response_timeout_seconds)
    program = Program(
        name=str(sms["program"]),
        frequency=str(sms["frequency"]),
        support=str(sms["support"]),
        brand=str(settings.values.get("voice", {}).get("brand", "Shop")),
    )
    inbound = DbSmsInbound(
        engine, rules, load_messaging(settings.policies_file), program, ladder, clock
    )
    return SmppSms(link, throttle, inbound)
