"""Builds the SMPP adapter from the settings, with its shared throttle and inbound handler.

Called by ``bootstrap.App.channels()`` only when ``[sms] adapter = "smpp"``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from outbound.channels.sms import SmppSettings, SmppSms
from outbound.channels.throttle import Throttle
from outbound.config import Settings, SmsSection
from outbound.domain.errors import ConfigError
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
        tls=smpp_tls(sms),
    )


def smpp_tls(sms: SmsSection) -> ssl.SSLContext | None:
    """The TLS context of ``[sms] tls = true``: TLS 1.2 or later, the SMSC's certificate checked
    against ``tls_ca_file`` (else the system's CAs) and its host name, and the client
    certificate when one is configured. None for plain TCP."""
    if not sms.tls:
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            if getattr(sms, name):
                raise ConfigError(
                    f"[sms] {name} is set but tls = false; set [sms] tls = true to use it"
                )
        return None
    try:
        context = ssl.create_default_context(cafile=sms.tls_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"[sms] tls_ca_file {sms.tls_ca_file!r} is not a readable PEM CA bundle "
            f"({type(exc).__name__}); leave it empty to trust the system's certificates"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if sms.tls_key_file and not sms.tls_cert_file:
        raise ConfigError("[sms] tls_key_file is set without tls_cert_file; give both")
    if sms.tls_cert_file:
        try:
            context.load_cert_chain(sms.tls_cert_file, sms.tls_key_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"[sms] tls_cert_file {sms.tls_cert_file!r} / tls_key_file "
                f"{sms.tls_key_file!r}: not a readable PEM certificate and matching key "
                f"({type(exc).__name__})"
            ) from None
    return context


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
