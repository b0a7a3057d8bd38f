"""Message text per kind × channel × locale, from the template files an operator edits.

The texts live in ``templates/<kind>/<channel>.<locale>.j2`` (``loader``): every text names the
sender (``brand``), SMS texts carry the opt-out footer where config/policies.toml requires it
for the channel (``[<CODE>.messaging] footer_channels``), values are formatted for the
customer's locale (``filters``). ``MessageRenderer`` decides brand and footer per customer, for
dispatch and ``campaign preview`` alike, and its ``preview`` gives the rendered length and SMS
part count before anything is sent. The module functions (``render_message``, ``preview``)
render with the shipped templates, for tests and tools without a configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from outbound.defaults import default_dir
from outbound.domain.values import Channel, Kind
from outbound.policy.messaging import MessagingRules
from outbound.policy.model import Rules
from outbound.services.templates.loader import (
    Rendered,
    TemplateSet,
    TemplateStore,
    today_utc,
)
from outbound.services.templates.preview import Preview, measure


def templates_dir(configured: str = "") -> Path:
    """``[templates] dir`` if set; else ``./templates`` when it holds templates (``outbound
    init`` writes it); else the shipped templates."""
    if configured:
        return Path(configured)
    local = Path("templates")
    return local if any(local.glob("*/*.j2")) else default_dir("templates")


@lru_cache(maxsize=1)
def shipped() -> TemplateStore:
    """The shipped templates (default locale ``en``), loaded once per process."""
    return TemplateStore(default_dir("templates"), "en")


def render_message(
    kind: Kind,
    channel: Channel,
    locale: str,
    payload: Mapping[str, Any],
    *,
    brand: str = "Shop",
    footer: bool = True,
    templates: TemplateSet | None = None,
    today: date | None = None,
) -> str:
    """The text for one channel; ``footer`` comes from the jurisdiction's footer_channels."""
    chosen = templates or shipped().current
    return chosen.render(
        kind, channel, locale, payload, brand=brand, footer=footer, today=today or today_utc()
    ).text


def render(kind: Kind, locale: str, payload: Mapping[str, Any], brand: str = "Shop") -> str:
    """The SMS text with its footer."""
    return render_message(kind, Channel.SMS, locale, payload, brand=brand, footer=True)


def preview(
    kind: Kind,
    channel: Channel,
    locale: str,
    payload: Mapping[str, Any],
    *,
    brand: str = "Shop",
    footer: bool = True,
    templates: TemplateSet | None = None,
    today: date | None = None,
) -> Preview:
    """Rendered length and SMS part count, before sending."""
    chosen = templates or shipped().current
    rendered = chosen.render(
        kind, channel, locale, payload, brand=brand, footer=footer, today=today or today_utc()
    )
    return measure(rendered, channel)


@dataclass(frozen=True)
class MessageRenderer:
    """The text a customer gets: brand, and the opt-out footer where their jurisdiction's
    ``[<CODE>.messaging] footer_channels`` ask for it (SMS when no messaging rules are given).

    Dispatch and ``campaign preview`` both render through this, so a preview's part count is
    what is sent. ``MessageRenderer(rules, messaging, brand).text(kind, channel, locale,
    country, payload)`` is the message body; ``.render(...)`` adds a push's title and the
    evidence of the file used; ``.preview(...)`` adds its length and SMS parts. ``templates``
    is the process's store (reloaded on SIGHUP); the shipped templates when None.
    """

    rules: Rules
    messaging: MessagingRules | None = None
    brand: str = "Shop"
    templates: TemplateStore | None = None
    today: Callable[[], date] = field(default=today_utc)

    def current(self) -> TemplateSet:
        """The set in use now; a batch renders every message with the one it read."""
        return (self.templates or shipped()).current

    def footer(self, channel: Channel, country: str | None) -> bool:
        if self.messaging is None:
            return channel is Channel.SMS
        code = self.rules.for_country(country).code
        return channel in self.messaging.for_code(code).footer_channels

    def render(
        self,
        kind: Kind,
        channel: Channel,
        locale: str,
        country: str | None,
        payload: Mapping[str, Any],
        *,
        templates: TemplateSet | None = None,
        today: date | None = None,
    ) -> Rendered:
        chosen = templates or self.current()
        footer = self.footer(channel, country)
        return chosen.render(
            kind,
            channel,
            locale,
            payload,
            brand=self.brand,
            footer=footer,
            today=today or self.today(),
        )

    def text(
        self,
        kind: Kind,
        channel: Channel,
        locale: str,
        country: str | None,
        payload: Mapping[str, Any],
    ) -> str:
        return self.render(kind, channel, locale, country, payload).text

    def preview(
        self,
        kind: Kind,
        channel: Channel,
        locale: str,
        country: str | None,
        payload: Mapping[str, Any],
    ) -> Preview:
        return measure(self.render(kind, channel, locale, country, payload), channel)
