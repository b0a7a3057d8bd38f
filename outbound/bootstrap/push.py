"""Builds the push adapter from the ``[push]`` settings (Web Push and/or FCM).

Called by ``bootstrap.App.channels()`` only when ``[push] adapter = "real"``. A half without
its settings (no VAPID key file, no FCM project) is left out: subscriptions of that kind then
fail permanently with a message naming the missing key, and the ladder moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from outbound.channels.push import FcmPush, FcmSettings, PushChannel, WebPush, WebPushSettings
from outbound.channels.push_auth import CommandTokens, ServiceAccountTokens, TokenProvider
from outbound.config import Settings
from outbound.domain.errors import ConfigError
from outbound.store.push import DbSubscriptions


def build_push(settings: Settings, engine: Engine, clock: Callable[[], datetime]) -> PushChannel:
    push = settings.values["push"]
    client = httpx.Client(timeout=float(push["timeout_seconds"]), follow_redirects=False)
    webpush = None
    if push["vapid_private_key_file"]:
        web = WebPushSettings(
            vapid_private_key_file=str(push["vapid_private_key_file"]),
            vapid_subject=str(push["vapid_subject"]),
            ttl_seconds=int(push["webpush_ttl_seconds"]),
            max_bytes=int(push["webpush_max_bytes"]),
            urgency=str(push["webpush_urgency"]),
            timeout_seconds=float(push["timeout_seconds"]),
        )
        try:
            webpush = WebPush(web, client, clock)
        except Exception as exc:  # py_vapid raises plain exceptions for unreadable keys
            raise ConfigError(
                f"[push] vapid_private_key_file {web.vapid_private_key_file!r} is not a "
                f"readable EC P-256 PEM key ({type(exc).__name__}); create one with `vapid --gen`"
            ) from None
    fcm = _fcm(push, client, clock)
    if webpush is None and fcm is None:
        raise ConfigError(
            '[push] adapter = "real" needs vapid_private_key_file (Web Push) and/or '
            "fcm_project_id with fcm_token_command or fcm_service_account_file (FCM)"
        )
    subscriptions = DbSubscriptions(engine, clock)
    return PushChannel(subscriptions, webpush, fcm, client, title=str(push["title"]))


def _fcm(
    push: Mapping[str, Any], client: httpx.Client, clock: Callable[[], datetime]
) -> FcmPush | None:
    tokens: TokenProvider
    project = str(push["fcm_project_id"])
    if push["fcm_service_account_file"]:
        account = ServiceAccountTokens(
            str(push["fcm_service_account_file"]), client, str(push["fcm_token_uri"])
        )
        tokens, project = account, project or account.project_id
    elif push["fcm_token_command"]:
        tokens = CommandTokens(str(push["fcm_token_command"]), float(push["fcm_token_ttl_seconds"]))
    else:
        return None
    if not project:
        raise ConfigError("[push] fcm_project_id is empty; set it to the Firebase project id")
    fcm = FcmSettings(
        project_id=project,
        base_url=str(push["fcm_base_url"]),
        max_bytes=int(push["fcm_max_bytes"]),
        timeout_seconds=float(push["timeout_seconds"]),
    )
    return FcmPush(fcm, tokens, client, clock)
