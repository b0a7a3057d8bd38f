"""Builds the push adapter from the ``[push]`` settings (Web Push and/or FCM) and ``[apns]``.

Called by ``bootstrap.App.channels()`` only when ``[push] adapter = "real"``. A half without
its settings (no VAPID key file, no FCM project) is left out: subscriptions of that kind then
fail permanently with a message naming the missing key, and the ladder moves on.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from datetime import datetime

import httpx
from sqlalchemy import Engine

from outbound.channels.apns import ApnsPush, ApnsSettings, ProviderTokens, load_signing_key
from outbound.channels.push import FcmPush, FcmSettings, PushChannel, WebPush, WebPushSettings
from outbound.channels.push_auth import CommandTokens, ServiceAccountTokens, TokenProvider
from outbound.channels.push_http import PushHttp
from outbound.config import ApnsSection, PushSection, Settings
from outbound.domain.errors import ConfigError
from outbound.domain.values import Subscription
from outbound.store.push import DbSubscriptions, find_subscription


class BatchSubscriptions(DbSubscriptions):
    """``DbSubscriptions`` that looks up a whole batch in one transaction (one turn at the
    SQLite write gate instead of one per message)."""

    def find_many(self, keys: Sequence[tuple[int, str]]) -> list[Subscription | None]:
        if not keys:
            return []
        with self.engine.begin() as conn:
            return [find_subscription(conn, customer, endpoint) for customer, endpoint in keys]


def web_push_settings(push: PushSection) -> WebPushSettings:
    """The Web Push half of ``[push]`` (VAPID key and subject, TTL, urgency, size limit)."""
    return WebPushSettings(
        vapid_private_key_file=push.vapid_private_key_file,
        vapid_subject=push.vapid_subject,
        ttl_seconds=push.webpush_ttl_seconds,
        max_bytes=push.webpush_max_bytes,
        urgency=push.webpush_urgency,
        timeout_seconds=push.timeout_seconds,
    )


def build_push(settings: Settings, engine: Engine, clock: Callable[[], datetime]) -> PushChannel:
    push = settings.push
    verify = _trust(push)
    # the sync client of the OAuth token grants; the sends go through PushHttp
    client = httpx.Client(timeout=push.timeout_seconds, follow_redirects=False, verify=verify)
    webpush = None
    if push.vapid_private_key_file:
        web = web_push_settings(push)
        try:
            webpush = WebPush(web, clock)
        except Exception as exc:  # py_vapid raises plain exceptions for unreadable keys
            raise ConfigError(
                f"[push] vapid_private_key_file {web.vapid_private_key_file!r} is not a "
                f"readable EC P-256 PEM key ({type(exc).__name__}); create one with `vapid --gen`"
            ) from None
    fcm = _fcm(push, client, clock)
    apns = build_apns(settings.apns, clock)
    if webpush is None and fcm is None and apns is None:
        raise ConfigError(
            '[push] adapter = "real" needs vapid_private_key_file (Web Push), '
            "fcm_project_id with fcm_token_command or fcm_service_account_file (FCM), "
            "and/or [apns] team_id, key_id, key_file and topic (APNs)"
        )
    subscriptions = BatchSubscriptions(engine, clock)
    http = PushHttp(
        clock,
        window=push.window,
        timeout_seconds=push.timeout_seconds,
        verify=verify,
        http2=push.http2,
        targets=push.targets(),
    )
    return PushChannel(subscriptions, webpush, fcm, http, client, title=push.title, apns=apns)


def build_apns(section: ApnsSection, clock: Callable[[], datetime]) -> ApnsPush | None:
    """The APNs sender of ``[apns]``; None when no ``team_id`` is set (APNs not served)."""
    if not section.team_id:
        return None
    if not section.key_id:
        raise ConfigError("[apns] key_id is empty; give the 10-character id of the .p8 key")
    key = load_signing_key(section.key_file, section.key.get_secret_value())
    tokens = ProviderTokens(section.team_id, section.key_id, key, section.token_refresh_seconds)
    apns = ApnsSettings(
        topic=section.topic,
        base_url=section.api_base,
        push_type=section.push_type,
        priority=section.priority,
        expiration_seconds=section.expiration_seconds,
        max_bytes=section.max_bytes,
    )
    return ApnsPush(apns, tokens, clock)


def _trust(push: PushSection) -> ssl.SSLContext | bool:
    """The CA certificates the push clients trust: ``[push] ca_file``, else the system's."""
    if not push.ca_file:
        return True
    try:
        return ssl.create_default_context(cafile=push.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"[push] ca_file {push.ca_file!r} is not a readable PEM CA bundle "
            f"({type(exc).__name__}); leave it empty to trust the system's certificates"
        ) from None


def _fcm(push: PushSection, client: httpx.Client, clock: Callable[[], datetime]) -> FcmPush | None:
    tokens: TokenProvider
    project = push.fcm_project_id
    if push.fcm_service_account_file:
        account = ServiceAccountTokens(push.fcm_service_account_file, client, push.fcm_token_uri)
        tokens, project = account, project or account.project_id
    elif push.fcm_token_command:
        tokens = CommandTokens(push.fcm_token_command, push.fcm_token_ttl_seconds)
    else:
        return None
    if not project:
        raise ConfigError("[push] fcm_project_id is empty; set it to the Firebase project id")
    problem = push.targets().url_problem(push.fcm_base_url)
    if problem is not None:
        raise ConfigError(f"[push] fcm_base_url {push.fcm_base_url!r} {problem}")
    fcm = FcmSettings(
        project_id=project,
        base_url=push.fcm_base_url,
        max_bytes=push.fcm_max_bytes,
        timeout_seconds=push.timeout_seconds,
    )
    return FcmPush(fcm, tokens, clock)
