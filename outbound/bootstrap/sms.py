"""Builds the SMS adapter from the settings: one provider, or routes over several.

Called by ``bootstrap.App.channels()`` when ``[sms] adapter`` is not "log" or ``[sms] routes``
is set. Every provider gets its own shared throughput limit (``store.throttle``) and the same
inbound handler (receipts, MO, provider opt-outs).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from outbound.channels.aliyun import AliyunSettings, AliyunSms, Template, template_for
from outbound.channels.base import ChannelPort
from outbound.channels.sms import SmppSettings, SmppSms
from outbound.channels.sms_routes import DEFAULT, RoutedSms
from outbound.channels.throttle import Throttle
from outbound.channels.twilio import TwilioSettings, TwilioSms
from outbound.channels.vonage import VonageSettings, VonageSms
from outbound.config import Settings, SmsSection
from outbound.domain.errors import ConfigError
from outbound.domain.values import Kind
from outbound.policy.ladder import Ladder
from outbound.policy.messaging import load_messaging
from outbound.policy.model import Rules
from outbound.services.people.inbound import DbSmsInbound, Program
from outbound.services.send.providers import SwitchAudit
from outbound.store.throttle import DbTokenBucket

TWILIO_STATUS_PATH = "/v1/providers/twilio/status"
TWILIO_INBOUND_PATH = "/v1/providers/twilio/inbound"
VONAGE_STATUS_PATH = "/v1/providers/vonage/status"
VONAGE_INBOUND_PATH = "/v1/providers/vonage/inbound"
ALIYUN_STATUS_PATH = "/v1/providers/aliyun/status"
ALIYUN_INBOUND_PATH = "/v1/providers/aliyun/inbound"


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


def callback_url(settings: Settings, path: str) -> str:
    """``[api] public_url`` + path; "" when no public URL is set."""
    base = settings.api.public_url.rstrip("/")
    return base + path if base else ""


def twilio_settings(settings: Settings) -> TwilioSettings:
    t = settings.twilio
    try:
        token = t.token()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not t.account_sid or not token:
        raise ConfigError(
            "[twilio] account_sid and auth_token are required for the twilio SMS provider: "
            "set OUTBOUND_TWILIO_ACCOUNT_SID and OUTBOUND_TWILIO_AUTH_TOKEN (or auth_token_file)"
        )
    if not t.from_number and not t.messaging_service_sid:
        raise ConfigError(
            "[twilio] from (from_number) or messaging_service_sid is required: set "
            "OUTBOUND_TWILIO_FROM to a Twilio number like +15005550006"
        )
    return TwilioSettings(
        account_sid=t.account_sid,
        auth_token=token,
        from_number=t.from_number,
        messaging_service_sid=t.messaging_service_sid,
        api_base=t.api_base,
        status_callback=callback_url(settings, TWILIO_STATUS_PATH),
        window=t.window,
        timeout_seconds=t.timeout_seconds,
        hold_seconds=t.timeout_seconds,
        resend_unknown=t.resend_unknown,
    )


def sms_inbound(
    settings: Settings,
    engine: Engine,
    rules: Rules,
    ladder: Ladder,
    clock: Callable[[], datetime],
) -> DbSmsInbound:
    sms = settings.sms
    program = Program(
        name=sms.program, frequency=sms.frequency, support=sms.support, brand=settings.brand.name
    )
    return DbSmsInbound(
        engine, rules, load_messaging(settings.policies_file), program, ladder, clock
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
    return SmppSms(link, throttle, sms_inbound(settings, engine, rules, ladder, clock))


def build_twilio_sms(
    settings: Settings,
    engine: Engine,
    rules: Rules,
    ladder: Ladder,
    clock: Callable[[], datetime],
) -> TwilioSms:
    link = twilio_settings(settings)
    t = settings.twilio
    bucket = DbTokenBucket(
        engine, key=f"twilio:{link.account_sid}", rate=t.throughput_per_second, burst=t.burst
    )
    throttle = Throttle(bucket, max_wait=link.timeout_seconds)
    events = sms_inbound(settings, engine, rules, ladder, clock)
    return TwilioSms(link, throttle, events, settings.sms.sender_ids)


def vonage_settings(settings: Settings) -> VonageSettings:
    v = settings.vonage
    secret = v.api_secret.get_secret_value()
    if not v.api_key or not secret:
        raise ConfigError(
            "[vonage] api_key and api_secret are required for the vonage SMS provider: set "
            "OUTBOUND_VONAGE_API_KEY and OUTBOUND_VONAGE_API_SECRET"
        )
    return VonageSettings(
        api_key=v.api_key,
        api_secret=secret,
        sender=v.sender or settings.sms.source_addr,
        api_base=v.api_base,
        status_callback=callback_url(settings, VONAGE_STATUS_PATH),
        window=v.window,
        timeout_seconds=v.timeout_seconds,
        hold_seconds=v.timeout_seconds,
        resend_unknown=v.resend_unknown,
    )


def build_vonage_sms(settings: Settings, engine: Engine) -> VonageSms:
    link = vonage_settings(settings)
    v = settings.vonage
    bucket = DbTokenBucket(
        engine, key=f"vonage:{link.api_key}", rate=v.throughput_per_second, burst=v.burst
    )
    throttle = Throttle(bucket, max_wait=link.timeout_seconds)
    return VonageSms(link, throttle, settings.sms.sender_ids)


def aliyun_templates(settings: Settings) -> dict[str, Template]:
    return {key: Template(t.code, tuple(t.params)) for key, t in settings.aliyun.templates.items()}


def template_problems(settings: Settings) -> list[str]:
    """Kinds Aliyun could not send (no ``[aliyun] templates`` entry): China sends approved
    templates only. Empty when aliyun is not a configured provider."""
    if "aliyun" not in sms_providers(settings):
        return []
    templates = aliyun_templates(settings)
    return [
        f"[aliyun] templates has no entry for kind {kind.value!r}: add e.g. "
        f'"{kind.value}.zh-CN" = {{ code = "SMS_…", params = [...] }} with the code Aliyun approved'
        for kind in Kind
        if not any(key == kind.value or key.startswith(kind.value + ".") for key in templates)
        and template_for(templates, kind.value, "zh-CN") is None
    ]


def build_aliyun_sms(settings: Settings, engine: Engine) -> AliyunSms:
    a = settings.aliyun
    secret = a.access_key_secret.get_secret_value()
    if not a.access_key_id or not secret or not a.sign_name:
        raise ConfigError(
            "[aliyun] access_key_id, access_key_secret and sign_name are required for the aliyun "
            "SMS provider: set OUTBOUND_ALIYUN_ACCESS_KEY_ID, OUTBOUND_ALIYUN_ACCESS_KEY_SECRET "
            "and [aliyun] sign_name"
        )
    problems = template_problems(settings)
    if problems:
        raise ConfigError("; ".join(problems))
    link = AliyunSettings(
        access_key_id=a.access_key_id,
        access_key_secret=secret,
        sign_name=a.sign_name,
        templates=aliyun_templates(settings),
        api_base=a.api_base,
        region=a.region,
        window=a.window,
        timeout_seconds=a.timeout_seconds,
        hold_seconds=a.timeout_seconds,
        resend_unknown=a.resend_unknown,
    )
    bucket = DbTokenBucket(
        engine, key=f"aliyun:{a.access_key_id}", rate=a.throughput_per_second, burst=a.burst
    )
    return AliyunSms(link, Throttle(bucket, max_wait=link.timeout_seconds))


def sms_providers(settings: Settings) -> list[str]:
    """The providers ``[sms]`` names, in first-use order."""
    names = [settings.sms.adapter]
    for route in settings.sms.routes.values():
        names += [n for n in route if n not in names]
    return list(dict.fromkeys(names))


def build_sms(
    settings: Settings,
    engine: Engine,
    rules: Rules,
    ladder: Ladder,
    clock: Callable[[], datetime],
    log_adapter: ChannelPort,
) -> ChannelPort:
    """The SMS adapter: ``[sms] adapter`` alone, or a ``RoutedSms`` over ``[sms] routes``."""
    providers: dict[str, ChannelPort] = {}
    for name in sms_providers(settings):
        if name == "smpp":
            smpp = build_smpp_sms(settings, engine, rules, ladder, clock)
            smpp.start()  # bound from now on: receipts and MO arrive even before a send
            providers[name] = smpp
        elif name == "twilio":
            providers[name] = build_twilio_sms(settings, engine, rules, ladder, clock)
        elif name == "vonage":
            providers[name] = build_vonage_sms(settings, engine)
        elif name == "aliyun":
            providers[name] = build_aliyun_sms(settings, engine)
        elif name == "log":
            providers[name] = log_adapter
        else:
            raise ConfigError(
                f"[sms] provider {name!r} is unknown: use twilio, vonage, aliyun, smpp or log"
            )
    sms = settings.sms
    if not sms.routes:
        return providers[sms.adapter]
    routes = {code: list(names) for code, names in sms.routes.items()}
    routes.setdefault(DEFAULT, [sms.adapter])
    try:
        return RoutedSms(
            providers,
            routes,
            failover_after=sms.failover_after,
            cool_off_seconds=sms.cool_off_seconds,
            on_switch=SwitchAudit(engine, clock),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _callbacks(settings: Settings, status: str, inbound: str) -> dict[str, str]:
    unset = "not set ([api] public_url)"
    return {
        "status": callback_url(settings, status) or unset,
        "inbound": callback_url(settings, inbound) or unset,
    }


def _checked(build: Callable[[], TwilioSms | VonageSms | AliyunSms]) -> str:
    """The adapter's credentials check, or why it could not be built."""
    try:
        adapter = build()
    except ConfigError as exc:
        return f"not configured: {exc}"
    try:
        return adapter.check()
    finally:
        adapter.close()


def provider_report(
    settings: Settings,
    engine: Engine,
    rules: Rules,
    ladder: Ladder,
    clock: Callable[[], datetime],
) -> dict[str, object]:
    """What ``outbound providers check`` shows: per configured provider whether its
    credentials are accepted (a cheap authenticated request), the callback URLs, the routes.
    Secrets are never part of it."""
    providers: list[dict[str, object]] = []
    for name in sms_providers(settings):
        entry: dict[str, object] = {"provider": name}
        if name == "twilio":
            entry["account_sid"] = settings.twilio.account_sid
            entry["api_base"] = settings.twilio.api_base
            entry["credentials"] = _checked(
                lambda: build_twilio_sms(settings, engine, rules, ladder, clock)
            )
            entry["callbacks"] = _callbacks(settings, TWILIO_STATUS_PATH, TWILIO_INBOUND_PATH)
        elif name == "vonage":
            entry["api_key"] = settings.vonage.api_key
            entry["api_base"] = settings.vonage.api_base
            entry["credentials"] = _checked(lambda: build_vonage_sms(settings, engine))
            entry["callbacks"] = _callbacks(settings, VONAGE_STATUS_PATH, VONAGE_INBOUND_PATH)
        elif name == "aliyun":
            entry["access_key_id"] = settings.aliyun.access_key_id
            entry["credentials"] = _checked(lambda: build_aliyun_sms(settings, engine))
            token = "?token=<[aliyun] callback_token>"
            entry["callbacks"] = {
                k: v + token if v.startswith("http") else v
                for k, v in _callbacks(settings, ALIYUN_STATUS_PATH, ALIYUN_INBOUND_PATH).items()
            }
        elif name == "smpp":
            entry["credentials"] = "not checked (bound by `outbound serve`)"
            entry["smsc"] = f"{settings.sms.host}:{settings.sms.port}"
        elif name == "log":
            entry["credentials"] = "none needed (embedded sink)"
        else:
            entry["credentials"] = "not available yet"
        providers.append(entry)
    routes = {code: list(names) for code, names in settings.sms.routes.items()}
    routes.setdefault(DEFAULT, [settings.sms.adapter])
    return {
        "adapter": settings.sms.adapter,
        "providers": providers,
        "routes": routes,
        "sender_ids": dict(settings.sms.sender_ids),
        "problems": template_problems(settings),
    }
