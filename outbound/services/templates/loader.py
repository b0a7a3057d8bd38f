"""Message templates as files an operator edits: ``templates/<kind>/<channel>.<locale>.j2``.

One file per kind × channel × locale (``price_drop/sms.fr.j2``, ``renewal/push.ja.j2``), and
the opt-out footer per locale (``footer/sms.de.j2``). A push file holds two blocks,
``{% block title %}`` and ``{% block body %}``; an SMS file is the body, with ``{{ footer }}``
where the jurisdiction's opt-out footer goes (empty where policies.toml asks for none).
Provider-side templates (a provider renders its own approved text) are ``providers.toml``.

Templates render in Jinja2's ``SandboxedEnvironment`` with ``StrictUndefined`` and no globals:
a template reads the payload's fields by name, formats them with the Babel filters of
``filters``, and never calls into Python. Every file is read, hashed (SHA-256 of its bytes,
recorded with each notification as evidence of the wording sent) and compiled when the set is
loaded; a ``TemplateSet`` never changes, ``TemplateStore.swap`` replaces it whole (reload,
SIGHUP). This is the one module that imports Jinja2 for message templates.
"""

from __future__ import annotations

import hashlib
import re
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from outbound.domain.errors import OutboundError
from outbound.domain.values import Channel, Kind
from outbound.services.templates import filters, locales

#: the folders of templates/: one per kind, and the footer
FOOTER = "footer"
FOLDERS = (*(k.value for k in Kind), FOOTER)
#: channels with text templates (a call speaks its voice flow)
CHANNELS = (Channel.SMS, Channel.PUSH)
PUSH_BLOCKS = ("title", "body")
PROVIDERS_FILE = "providers.toml"
_FILE = re.compile(r"^(?P<channel>sms|push)\.(?P<locale>[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\.j2$")
#: characters a formatted value may carry that GSM-7 lacks but a plain space replaces
_SMS_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})


class TemplateFault(OutboundError):
    """A template could not be rendered for a payload (names the file and line)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a template file: where, which field, what, and the fix."""

    file: str
    line: int
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        about = f" [{self.field}]" if self.field else ""
        return f"{where}{about}: {self.message}; fix: {self.fix}"


@dataclass(frozen=True)
class Use:
    """Something a template does, found in its syntax tree (for lint)."""

    what: str  # name | attribute | item | call | include
    line: int
    detail: str


@dataclass(frozen=True)
class TemplateFile:
    folder: str  # a kind's value, or "footer"
    channel: Channel
    locale: str
    rel: str  # price_drop/sms.fr.j2
    path: Path
    source: str
    sha256: str
    template: Template
    uses: tuple[Use, ...]
    blocks: frozenset[str]

    @property
    def names(self) -> Counter[str]:
        """How often each name is read (a value printed twice counts twice, for sizes)."""
        return Counter(u.detail for u in self.uses if u.what == "name")


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


# --- the sandbox --------------------------------------------------------------------------


@pass_context
def _currency(ctx: Context, value: Any, currency: Any) -> str:
    return filters.format_currency(ctx["_fmt"], value, currency)


@pass_context
def _decimal(ctx: Context, value: Any, digits: int | None = None) -> str:
    return filters.format_decimal(ctx["_fmt"], value, digits)


@pass_context
def _date(ctx: Context, value: Any, form: str = "long") -> str:
    return filters.format_date(ctx["_fmt"], value, form)


@pass_context
def _relative(ctx: Context, value: Any) -> str:
    today: date = ctx["_today"]
    return filters.relative(ctx["_fmt"], value, today)


FILTERS: dict[str, Callable[..., str]] = {
    "format_currency": _currency,
    "format_decimal": _decimal,
    "format_date": _date,
    "relative": _relative,
}


def environment() -> SandboxedEnvironment:
    """The sandbox every message template renders in: no globals (no ``range``, ``cycler``,
    ``lipsum``…), strict about undefined names, the Babel filters added."""
    env = SandboxedEnvironment(
        autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False
    )
    env.globals.clear()
    env.filters.update(FILTERS)
    return env


_ENV = environment()


def _uses(tree: nodes.Template) -> tuple[Use, ...]:
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    out: list[Use] = []
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", 0) or 0
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in stored:
            out.append(Use("name", line, node.name))
        elif isinstance(node, nodes.Getattr):
            out.append(Use("attribute", line, str(node.attr)))
        elif isinstance(node, nodes.Getitem):
            out.append(Use("item", line, "[…]"))
        elif isinstance(node, nodes.Call):
            out.append(Use("call", line, "()"))
        elif isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
            out.append(Use("include", line, type(node).__name__.lower()))
    return tuple(out)


def compile_file(path: Path, rel: str, folder: str, channel: Channel, locale: str) -> TemplateFile:
    """Read, hash and compile one file; TemplateSyntaxError (with its line) when it is broken."""
    data = path.read_bytes()
    source = data.decode("utf-8")
    tree = _ENV.parse(source, rel, str(path))
    code = _ENV.compile(source, rel, str(path))
    template = _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)
    blocks = frozenset(b.name for b in tree.find_all(nodes.Block))
    return TemplateFile(
        folder,
        channel,
        locale,
        rel,
        path,
        source,
        hashlib.sha256(data).hexdigest(),
        template,
        _uses(tree),
        blocks,
    )


def error_line(exc: BaseException, file: TemplateFile) -> int:
    """The template line an exception was raised on (0 when unknown)."""
    if isinstance(exc, TemplateSyntaxError) and exc.lineno:
        return int(exc.lineno)
    line, tb = 0, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(file.path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox: {exc}"
    if isinstance(exc, UndefinedError):
        return f"{exc} (a field this payload does not have)"
    return str(exc)


def is_render_error(exc: BaseException) -> bool:
    return isinstance(exc, TemplateError | filters.FormatError | TypeError | ValueError)


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
                values["footer"] = _run(footer_file, footer_file.template.render, values)
        if text_channel is Channel.PUSH:
            title, text = _push(file, values)
        else:
            title, text = None, _run(file, file.template.render, values)
            text = text.translate(_SMS_SPACES).rstrip()
        return Rendered(text, title, resolved, footer_file)

    def _footer(self, locale: str) -> TemplateFile:
        found = self.resolve(FOOTER, Channel.SMS, locale)
        if found is None:
            raise TemplateFault(
                f"no footer/sms.{locale}.j2 nor footer/sms.{self.default_locale}.j2 in "
                f"{self.directory}: the opt-out footer is required here"
            )
        return found.file


def _run(file: TemplateFile, call: Callable[..., str], *args: Any) -> str:
    try:
        return call(*args).strip()
    except Exception as exc:
        if not is_render_error(exc):
            raise
        line = error_line(exc, file)
        raise TemplateFault(f"{file.rel}:{line}: {describe_error(exc)}") from exc


def _push(file: TemplateFile, values: dict[str, Any]) -> tuple[str, str]:
    def blocks() -> tuple[str, str]:
        ctx = file.template.new_context(values)
        try:
            title = "".join(file.template.blocks["title"](ctx))
            body = "".join(file.template.blocks["body"](ctx))
        except Exception:
            _ENV.handle_exception()  # re-raised with the template's own lines
        return title, body

    try:
        title, body = blocks()
    except KeyError as exc:
        raise TemplateFault(f"{file.rel}: no {{% block {exc.args[0]} %}}") from None
    except Exception as exc:
        if not is_render_error(exc):
            raise
        line = error_line(exc, file)
        raise TemplateFault(f"{file.rel}:{line}: {describe_error(exc)}") from exc
    return " ".join(title.split()), body.strip()


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
        except TemplateSyntaxError as exc:
            out.problems.append(
                Problem(rel, exc.lineno or 0, "", f"does not compile: {exc.message}", _SYNTAX_FIX)
            )
        except (OSError, UnicodeDecodeError) as exc:
            out.problems.append(Problem(rel, 0, "", f"cannot be read: {exc}", "save it as UTF-8"))
    _load_providers(directory / PROVIDERS_FILE, out)
    return out


_SYNTAX_FIX = "close every {{ … }} / {% … %}; filters: " + ", ".join(sorted(FILTERS))


def _load_providers(path: Path, out: TemplateSet) -> None:
    """``[<provider>.<kind>.<locale>]`` tables with ``id`` and ``params``."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        fix = "write [<provider>.<kind>.<locale>] tables with id and params"
        out.problems.append(Problem(PROVIDERS_FILE, 0, "", f"is not TOML: {exc}", fix))
        return
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
                    out.problems.append(
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
                out.providers[key] = ProviderTemplate(provider, kind, key[2], ident, fields, line)


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
