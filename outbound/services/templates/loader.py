"""Message templates as files an operator edits: ``templates/<kind>/<channel>.<locale>.j2``.

One file per kind × channel × locale (``price_drop/sms.fr.j2``, ``renewal/push.ja.j2``), and
the opt-out footer per locale (``footer/sms.de.j2``). A push file holds two blocks,
``{% block title %}`` and ``{% block body %}``; an SMS file is the body, with ``{{ footer }}``
where the jurisdiction's opt-out footer goes (empty where policies.toml asks for none).
Provider-side templates (a provider renders its own approved text) are ``providers.toml``.

Every file is read, hashed and compiled in the sandbox (``sandbox``) when the set is loaded; a
``TemplateSet`` never changes, ``TemplateStore.swap`` replaces it whole (reload, SIGHUP).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from outbound.domain import locales
from outbound.domain.values import Channel, Kind
from outbound.services.templates import filters
from outbound.services.templates.providers import PROVIDERS_FILE, ProviderTemplate, load_providers
from outbound.services.templates.sandbox import (
    SMS_SPACES,
    SYNTAX_FIX,
    CompileError,
    Problem,
    TemplateFault,
    TemplateFile,
    compile_file,
    run_push,
    run_text,
    syntax_problem,
)

#: the folders of templates/: one per kind, and the footer
FOOTER = "footer"
FOLDERS = (*(k.value for k in Kind), FOOTER)
#: channels with text templates (a call speaks its voice flow)
CHANNELS = (Channel.SMS, Channel.PUSH)
_FILE = re.compile(r"^(?P<channel>sms|push)\.(?P<locale>[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.j2$")


@dataclass(frozen=True)
class Resolved:
    file: TemplateFile
    wanted: str  # the customer's locale, normalized

    @property
    def fallback(self) -> str | None:
        """``no fr-CA template`` when the customer's own locale had none."""
        if self.file.locale == self.wanted:
            return None
        return f"no {self.wanted or 'locale'} template"

    @property
    def note(self) -> str:
        """What ``why`` says: ``rendered in fr (no fr-CA template)``."""
        fallback = self.fallback
        used = f"rendered in {self.file.locale}"
        return f"{used} ({fallback})" if fallback else used


@dataclass(frozen=True)
class Rendered:
    text: str
    title: str | None  # push only
    resolved: Resolved
    footer: TemplateFile | None = None

    @property
    def evidence(self) -> dict[str, Any]:
        """Recorded with the notification: which file (and bytes) made the wording."""
        file = self.resolved.file
        out: dict[str, Any] = {"file": file.rel, "sha256": file.sha256, "locale": file.locale}
        if self.resolved.fallback:
            out["fallback"] = self.resolved.fallback
        if self.footer is not None:
            out["footer"] = self.footer.rel
            out["footer_sha256"] = self.footer.sha256
        return out


# --- a loaded set -------------------------------------------------------------------------


@dataclass(eq=False)  # hashable by identity: caches key on the set in use
class TemplateSet:
    """Every template of one directory, compiled; what ``resolve`` and ``render`` read."""

    directory: Path
    default_locale: str = "en"
    files: dict[tuple[str, Channel, str], TemplateFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # files that did not load
    providers: dict[tuple[str, str, str], ProviderTemplate] = field(default_factory=dict)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _resolved: dict[tuple[str, Channel, str], Resolved | None] = field(default_factory=dict)
    _footers: dict[tuple[str, str], str] = field(default_factory=dict)

    def locales(self, folder: str, channel: Channel) -> list[str]:
        return sorted(loc for f, c, loc in self.files if f == folder and c is channel)

    def resolve(self, folder: str, channel: Channel, locale: str) -> Resolved | None:
        """The file a customer with ``locale`` gets: ``fr-CA → fr → default_locale``."""
        key = (folder, channel, locale)
        found = self._resolved.get(key, False)
        if found is not False:
            return found  # type: ignore[return-value]
        wanted = locales.normalize(locale)
        result = None
        for candidate in locales.candidates(locale, self.default_locale):
            file = self.files.get((folder, channel, candidate))
            if file is not None:
                result = Resolved(file, wanted)
                break
        self._resolved[key] = result
        return result

    def provider_template(self, provider: str, kind: str, locale: str) -> ProviderTemplate | None:
        for candidate in locales.candidates(locale, self.default_locale):
            found = self.providers.get((provider, kind, candidate))
            if found is not None:
                return found
        return None

    def render(
        self,
        kind: Kind | str,
        channel: Channel,
        locale: str,
        payload: Mapping[str, Any],
        *,
        brand: str,
        footer: bool,
        today: date,
    ) -> Rendered:
        """The text (and a push's title) for one customer; TemplateFault when it cannot be
        rendered (the lint run at start and reload makes that rare)."""
        folder = str(kind.value if isinstance(kind, Kind) else kind)
        text_channel = Channel.PUSH if channel is Channel.PUSH else Channel.SMS
        resolved = self.resolve(folder, text_channel, locale)
        if resolved is None:
            raise TemplateFault(
                f"no {folder} {text_channel.value} template for {locale!r} nor for the default "
                f"locale {self.default_locale!r} in {self.directory}; run `outbound templates "
                "lint`"
            )
        file = resolved.file
        fmt = filters.babel_locale(resolved.wanted) or filters.babel_locale(file.locale)
        values: dict[str, Any] = {
            **payload,
            "brand": brand,
            "_fmt": fmt or filters.babel_locale("en"),
            "_today": today,
        }
        footer_file = None
        if text_channel is Channel.SMS:
            values["footer"] = ""
            if footer:
                footer_file = self._footer(file.locale)
                key = (footer_file.rel, brand)
                said = self._footers.get(key)
                if said is None:  # a footer reads only the brand: rendered once per set
                    said = run_text(footer_file, footer_file.template.render, values)
                    self._footers[key] = said
                values["footer"] = said
        if text_channel is Channel.PUSH:
            title, text = run_push(file, values)
        else:
            title, text = None, run_text(file, file.template.render, values)
            text = text.translate(SMS_SPACES).rstrip()
        return Rendered(text, title, resolved, footer_file)

    def _footer(self, locale: str) -> TemplateFile:
        found = self.resolve(FOOTER, Channel.SMS, locale)
        if found is None:
            raise TemplateFault(
                f"no footer/sms.{locale}.j2 nor footer/sms.{self.default_locale}.j2 in "
                f"{self.directory}: the opt-out footer is required here"
            )
        return found.file


def _walk(directory: Path) -> Iterator[tuple[Path, str, str, Channel, str]]:
    for folder in FOLDERS:
        base = directory / folder
        if not base.is_dir():
            continue
        for path in sorted(base.glob("*.j2")):
            match = _FILE.match(path.name)
            if match is None:
                yield path, f"{folder}/{path.name}", folder, Channel.SMS, ""
                continue
            locale = locales.normalize(match["locale"])
            yield path, f"{folder}/{path.name}", folder, Channel(match["channel"]), locale


def load(directory: Path, default_locale: str = "en") -> TemplateSet:
    """Every template under ``directory``; a file that does not load is a ``Problem``."""
    out = TemplateSet(directory, locales.normalize(default_locale))
    if not directory.is_dir():
        out.problems.append(
            Problem(
                str(directory),
                0,
                "",
                "templates directory does not exist",
                "run `outbound init`, or set [templates] dir to a folder of templates",
            )
        )
        return out
    for extra in sorted(directory.iterdir()):
        if extra.is_dir() and extra.name not in FOLDERS and not extra.name.startswith("."):
            out.problems.append(
                Problem(
                    extra.name,
                    0,
                    "",
                    f"unknown folder {extra.name!r}",
                    f"templates go in one of {', '.join(FOLDERS)}",
                )
            )
    for path, rel, folder, channel, locale in _walk(directory):
        if not locale:
            out.problems.append(
                Problem(
                    rel,
                    0,
                    "",
                    "file name is not <channel>.<locale>.j2",
                    "name it like sms.fr.j2, push.zh-Hant.j2",
                )
            )
            continue
        if folder == FOOTER and channel is not Channel.SMS:
            out.problems.append(
                Problem(rel, 0, "", "only SMS has a footer", "name it footer/sms.<locale>.j2")
            )
            continue
        try:
            out.files[(folder, channel, locale)] = compile_file(path, rel, folder, channel, locale)
        except CompileError as exc:
            line, message = syntax_problem(exc)
            out.problems.append(Problem(rel, line, "", message, SYNTAX_FIX))
        except (OSError, UnicodeDecodeError) as exc:
            out.problems.append(Problem(rel, 0, "", f"cannot be read: {exc}", "save it as UTF-8"))
    out.providers = load_providers(directory / PROVIDERS_FILE, out.problems)
    return out


# --- the current set, swapped whole ---------------------------------------------------------


class TemplateStore:
    """The templates a process renders with. ``current`` is one immutable ``TemplateSet``;
    ``swap`` replaces it whole, so a message never mixes two versions."""

    def __init__(self, directory: Path, default_locale: str = "en") -> None:
        self.directory = directory
        self.default_locale = default_locale
        self._lock = threading.Lock()
        self.current = load(directory, default_locale)

    def fresh(self) -> TemplateSet:
        """The directory read again (not yet in use)."""
        return load(self.directory, self.default_locale)

    def swap(self, new: TemplateSet) -> TemplateSet:
        with self._lock:
            old, self.current = self.current, new
        return old


def today_utc() -> date:
    return datetime.now(UTC).date()
