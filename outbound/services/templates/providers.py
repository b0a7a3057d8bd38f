"""Provider-side templates: where a provider renders its own approved text (Aliyun SMS in
China, WhatsApp-style templates later), ``templates/providers.toml`` maps a kind × locale to
the provider's template id and the payload field behind each of its parameters::

    [aliyun.price_drop.zh-Hans]
    id = "SMS_123456789"
    params = { name = "title", price = "new_price", link = "url" }

Looked up with the same locale fallback as the files (``zh-CN → zh-Hans → default``); ``lint``
checks every parameter names a field the kind's payload has.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outbound.domain import locales
from outbound.services.templates.sandbox import Problem

PROVIDERS_FILE = "providers.toml"


@dataclass(frozen=True)
class ProviderTemplate:
    """A provider-rendered template: kind × locale -> the provider's id and its parameters
    (``params``: the provider's parameter name -> the payload field that fills it)."""

    provider: str
    kind: str
    locale: str
    template_id: str
    params: Mapping[str, str]
    line: int

    def values(self, payload: Mapping[str, Any]) -> dict[str, str]:
        return {name: str(payload[f]) for name, f in self.params.items() if f in payload}


def load_providers(
    path: Path, problems: list[Problem]
) -> dict[tuple[str, str, str], ProviderTemplate]:
    """``[<provider>.<kind>.<locale>]`` tables with ``id`` and ``params``; a table that is
    not one goes into ``problems``."""
    found: dict[tuple[str, str, str], ProviderTemplate] = {}
    if not path.is_file():
        return found
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        fix = "write [<provider>.<kind>.<locale>] tables with id and params"
        problems.append(Problem(PROVIDERS_FILE, 0, "", f"is not TOML: {exc}", fix))
        return found
    lines = text.splitlines()
    for provider, kinds in data.items():
        for kind, by_locale in (kinds if isinstance(kinds, dict) else {}).items():
            for locale, table in (by_locale if isinstance(by_locale, dict) else {}).items():
                header = f"[{provider}.{kind}.{locale}]"
                line = next((i for i, t in enumerate(lines, 1) if t.strip() == header), 0)
                where = f"{provider}.{kind}.{locale}"
                params = table.get("params") if isinstance(table, dict) else None
                ident = table.get("id") if isinstance(table, dict) else None
                if not isinstance(ident, str) or not ident or not isinstance(params, dict):
                    problems.append(
                        Problem(
                            PROVIDERS_FILE,
                            line,
                            where,
                            "needs id (text) and params (a table)",
                            'id = "SMS_123456789"; params = { name = "payload_field" }',
                        )
                    )
                    continue
                key = (provider, kind, locales.normalize(locale))
                fields = {str(k): str(v) for k, v in params.items()}
                found[key] = ProviderTemplate(provider, kind, key[2], ident, fields, line)
    return found
