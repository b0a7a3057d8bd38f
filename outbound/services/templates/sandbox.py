"""The sandbox a message template renders in, and what one compiled file is.

Jinja2's ``SandboxedEnvironment`` with ``StrictUndefined`` and no globals: a template reads the
payload's fields by name, formats them with the Babel filters of ``filters``, and never calls
into Python. A file is read, hashed (SHA-256 of its bytes: the evidence recorded with each
notification) and compiled once; errors carry the template's own line numbers. This is the one
module that imports Jinja2 for message templates.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, Template, nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from outbound.domain.errors import OutboundError
from outbound.domain.values import Channel
from outbound.services.templates import filters

if TYPE_CHECKING:
    from outbound.services.templates import code_cache

#: characters a formatted value may carry that GSM-7 lacks but a plain space replaces
SMS_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
#: what ``compile_file`` raises for a file that does not compile (with its line)
CompileError = TemplateSyntaxError
#: the two parts of a push file
PUSH_BLOCKS = ("title", "body")


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
    template, uses, blocks = _compiled(source, rel, str(path))
    return TemplateFile(
        folder,
        channel,
        locale,
        rel,
        path,
        source,
        hashlib.sha256(data).hexdigest(),
        template,
        uses,
        blocks,
    )


@lru_cache(maxsize=2048)
def _compiled(
    source: str, rel: str, filename: str
) -> tuple[Template, tuple[Use, ...], frozenset[str]]:
    """One text compiled once per process: a reload, or another App over the same folder,
    gets the same Template for an unchanged file (rendering never changes a Template); across
    processes the code comes from ``code_cache`` when an earlier one compiled the same text."""
    from outbound.services.templates import code_cache

    entry_key = code_cache.key(source, rel, filename)
    entry = code_cache.load(entry_key)
    if entry is None:
        entry = _compile(source, rel, filename)
        code_cache.store(entry_key, entry)
    code, uses, blocks = entry
    template = _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None), None)
    return template, tuple(Use(*u) for u in uses), frozenset(blocks)


def _compile(source: str, rel: str, filename: str) -> code_cache.Entry:
    """Parsed once: the tree is read for lint before code generation (whose optimizer
    rewrites it)."""
    tree = _ENV.parse(source, rel, filename)
    uses = tuple((u.what, u.line, u.detail) for u in _uses(tree))
    blocks = tuple(sorted(b.name for b in tree.find_all(nodes.Block)))
    code = _ENV.compile(tree, rel, filename)
    return code, uses, blocks


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


def run_text(file: TemplateFile, call: Callable[..., str], *args: Any) -> str:
    try:
        return call(*args).strip()
    except Exception as exc:
        if not is_render_error(exc):
            raise
        line = error_line(exc, file)
        raise TemplateFault(f"{file.rel}:{line}: {describe_error(exc)}") from exc


def run_push(file: TemplateFile, values: dict[str, Any]) -> tuple[str, str]:
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


SYNTAX_FIX = "close every {{ … }} / {% … %}; filters: " + ", ".join(sorted(FILTERS))


def syntax_problem(exc: CompileError) -> tuple[int, str]:
    return exc.lineno or 0, f"does not compile: {exc.message}"
