"""What a message comes to before it is sent: its text, encoding, characters and SMS parts.

``outbound templates preview`` and ``campaign preview`` both measure a text
rendered by ``MessageRenderer`` (``render``), so what they show is what dispatch sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from outbound.channels.sms_text import plan
from outbound.domain.values import Channel
from outbound.services.templates.loader import Rendered


@dataclass(frozen=True)
class Preview:
    text: str
    chars: int
    encoding: str  # gsm7 | ucs2 for SMS, utf-8 otherwise
    units: int  # septets / UTF-16 units for SMS, UTF-8 bytes otherwise
    parts: int  # SMS parts (1 for push and voice)
    title: str | None = None  # a push's title
    template: str = ""  # the file rendered, e.g. price_drop/sms.fr.j2
    locale: str = ""  # the template's locale
    fallback: str | None = None  # "no fr-CA template" when the customer's locale had none


def measure(rendered: Rendered, channel: Channel) -> Preview:
    """Length, encoding and SMS parts of a rendered text."""
    text, file = rendered.text, rendered.resolved.file
    extra = (rendered.title, file.rel, file.locale, rendered.resolved.fallback)
    if channel is Channel.SMS:
        sms = plan(text)
        return Preview(text, len(text), sms.encoding, sms.units, len(sms.parts), *extra)
    return Preview(text, len(text), "utf-8", len(text.encode()), 1, *extra)
