"""Per-jurisdiction messaging rules: opt-out / help keywords and which channels carry a footer.

Read from the ``[<CODE>.messaging]`` tables of config/policies.toml (the policy loader accepts
and ignores them)::

    [CN.messaging]
    stop_keywords = ["退订", "TD", "T", "取消"]
    help_keywords = ["帮助", "HELP"]
    footer_channels = ["sms"]

A jurisdiction without the table falls back to ``[default.messaging]``.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from outbound.domain.errors import ConfigError
from outbound.domain.values import Channel

Keyword = Literal["stop", "help", "other"]


def normalize(text: str) -> str:
    """Case-, width- and spacing-blind form: ' stop. ' and 'ＳＴＯＰ' match 'STOP'."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in folded)
    return " ".join(kept.split())


@dataclass(frozen=True)
class Messaging:
    stop_keywords: frozenset[str]
    help_keywords: frozenset[str]
    footer_channels: frozenset[Channel]

    def classify(self, text: str) -> Keyword:
        """A keyword counts only as the whole message, so 'T' never matches 'Thanks'."""
        said = normalize(text)
        if said in self.stop_keywords:
            return "stop"
        if said in self.help_keywords:
            return "help"
        return "other"


@dataclass(frozen=True)
class MessagingRules:
    by_code: Mapping[str, Messaging]

    def for_code(self, code: str) -> Messaging:
        return self.by_code.get(code) or self.by_code["default"]


def _words(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f'{where}: {value!r} is not a list of words; expected like ["STOP"]')
    return frozenset(normalize(v) for v in value)


def _parse(code: str, table: Any, source: str) -> Messaging:
    where = f"{source} [{code}.messaging]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    unknown = sorted(set(table) - {"stop_keywords", "help_keywords", "footer_channels"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}")
    channels = []
    for name in table.get("footer_channels", []):
        try:
            channels.append(Channel(name))
        except ValueError:
            raise ConfigError(
                f"{where}: footer channel {name!r} is not push, sms or voice"
            ) from None
    return Messaging(
        _words(table.get("stop_keywords"), f"{where} stop_keywords"),
        _words(table.get("help_keywords", ["HELP"]), f"{where} help_keywords"),
        frozenset(channels),
    )


def load_messaging(path: str | Path) -> MessagingRules:
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read messaging rules: {exc}") from exc
    by_code = {
        code: _parse(code, table["messaging"], file.name)
        for code, table in data.items()
        if isinstance(table, Mapping) and "messaging" in table
    }
    if "default" not in by_code:
        raise ConfigError(f"{file.name}: missing [default.messaging] with stop_keywords")
    return MessagingRules(by_code)
