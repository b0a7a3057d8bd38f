"""``outbound templates lint``: every problem a template file has, with file, line, field and fix.

A template must compile; read only the fields of its kind (``fields.allowed``) and nothing else
— no attributes, items, calls or includes, so ``{{ ''.__class__ }}`` and ``{{ cycler.__init__
}}`` are refused before the sandbox ever sees them; name the brand; (SMS) keep the opt-out
footer (``{{ footer }}``); (push) have a ``title`` and a ``body`` block; render an ordinary and
a realistic longest payload (``fields.SAMPLE`` / ``LONGEST``, optional fields left out too)
without error; and fit ``[sms] max_parts`` for the longest one, GSM-7 or UCS-2 as the text
itself decides (shown per locale). Every configured locale must find a template of every kind
and channel (``fr-CA → fr → default``), and every provider-side template may take only fields
its kind's payload has. ``serve`` refuses to start, and a reload keeps the old set, when
anything here is a problem.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from outbound.channels.sms_text import plan
from outbound.domain import locales
from outbound.domain.values import Channel, Kind
from outbound.services.templates import fields
from outbound.services.templates.loader import CHANNELS, FOOTER, TemplateSet, today_utc
from outbound.services.templates.providers import PROVIDERS_FILE
from outbound.services.templates.sandbox import (
    PUSH_BLOCKS,
    Problem,
    TemplateFault,
    TemplateFile,
    describe_error,
    error_line,
)

#: Jinja's default globals: gone from the sandbox, named in the refusal
_PYTHON_OBJECTS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})


@dataclass(frozen=True)
class SmsFit:
    """How a template's SMS comes out for the realistic longest payload."""

    file: str
    locale: str
    encoding: str
    chars: int
    parts: int


@dataclass
class LintReport:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    sms: list[SmsFit] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [asdict(p) for p in self.problems],
            "warnings": [asdict(p) for p in self.warnings],
            "sms": [asdict(s) for s in self.sms],
        }


def lint(
    templates: TemplateSet,
    *,
    brand: str = "Shop",
    max_parts: int = 6,
    configured: tuple[str, ...] = locales.SHIPPED,
    today: date | None = None,
) -> LintReport:
    day = today or today_utc()
    report = LintReport(problems=list(templates.problems))
    for _key, file in sorted(templates.files.items(), key=lambda kv: kv[1].rel):
        static = _static(file)
        report.problems.extend(static)
        if static:
            continue  # rendering a refused construct would only repeat it
        report.problems.extend(_renders(templates, file, brand, day))
        if file.channel is Channel.SMS and file.folder != FOOTER:
            _fit(templates, file, brand, max_parts, day, report)
    _coverage(templates, configured, report)
    _providers(templates, report)
    return report


def _static(file: TemplateFile) -> list[Problem]:
    allowed = fields.allowed(file.folder, file.channel)
    out: list[Problem] = []
    for use in file.uses:
        if use.what == "name" and use.detail not in allowed:
            if use.detail in _PYTHON_OBJECTS:
                message = f"{use.detail!r} is a Python object, refused by the sandbox"
            else:
                message = f"unknown field {use.detail!r} for {file.folder} {file.channel.value}"
            fix = "use one of: " + ", ".join(sorted(allowed))
            out.append(Problem(file.rel, use.line, use.detail, message, fix))
        elif use.what == "attribute":
            escape = use.detail.startswith("_")
            message = (
                f"sandbox escape refused: .{use.detail}"
                if escape
                else f"attribute access .{use.detail} refused: templates read fields by name"
            )
            out.append(Problem(file.rel, use.line, use.detail, message, _READ_FIX))
        elif use.what in ("item", "call", "include"):
            message = {
                "item": "item access refused: templates read fields by name",
                "call": "calls refused: a template reads values, it never calls into Python",
                "include": f"{use.detail} refused: one file is one message",
            }[use.what]
            out.append(Problem(file.rel, use.line, use.detail, message, _READ_FIX))
    return out + _shape(file)


def _shape(file: TemplateFile) -> list[Problem]:
    """The brand named, the SMS footer kept, a push's two blocks there."""
    out: list[Problem] = []
    names = file.names
    if file.folder != FOOTER and "brand" not in names:
        out.append(
            Problem(
                file.rel,
                1,
                "brand",
                "does not name the brand (the sender must be identified)",
                "add {{ brand }} ([brand] name), e.g. at the start",
            )
        )
    if file.channel is Channel.SMS and file.folder != FOOTER and "footer" not in names:
        last = max(1, len(file.source.rstrip("\n").splitlines()))
        out.append(
            Problem(
                file.rel,
                last,
                "footer",
                "drops the opt-out footer that policies.toml footer_channels require",
                "end the text with {{ footer }} (empty where no footer is required)",
            )
        )
    if file.channel is Channel.PUSH:
        for block in PUSH_BLOCKS:
            if block not in file.blocks:
                out.append(
                    Problem(
                        file.rel,
                        1,
                        block,
                        f"a push needs a {block} block",
                        f"write {{% block {block} %}}…{{% endblock %}}",
                    )
                )
    return out


_READ_FIX = "print a field itself, formatted by a filter: {{ new_price|format_currency(currency) }}"


def _payloads(folder: str) -> list[dict[str, Any]]:
    if folder not in fields.FIELDS:
        return [{}]
    longest, sample = fields.LONGEST[folder], fields.SAMPLE[folder]
    required = {k: v for k, v in longest.items() if k not in fields.OPTIONAL[folder]}
    return [sample, longest, required]


def _renders(templates: TemplateSet, file: TemplateFile, brand: str, day: date) -> list[Problem]:
    kind = file.folder if file.folder != FOOTER else Kind.SHIPPING.value
    out: list[Problem] = []
    for payload in _payloads(file.folder):
        try:
            if file.folder == FOOTER:
                file.template.render({"brand": brand})
            else:
                templates.render(
                    kind, file.channel, file.locale, payload, brand=brand, footer=True, today=day
                )
        except TemplateFault as exc:
            cause = exc.__cause__ or exc
            line = error_line(cause, file) if cause is not exc else 0
            out.append(
                Problem(
                    file.rel,
                    line,
                    _field_in(str(cause)),
                    f"does not render: {describe_error(cause) if cause is not exc else exc}",
                    "guard an optional field: {% if shipment_id is defined %}…{% endif %}",
                )
            )
            break
        except Exception as exc:  # a template error not wrapped (a footer's own)
            out.append(
                Problem(file.rel, error_line(exc, file), "", f"does not render: {exc}", _READ_FIX)
            )
            break
    return out


def _field_in(message: str) -> str:
    start = message.find("'")
    end = message.find("'", start + 1)
    return message[start + 1 : end] if 0 <= start < end else ""


def _fit(
    templates: TemplateSet,
    file: TemplateFile,
    brand: str,
    max_parts: int,
    day: date,
    report: LintReport,
) -> None:
    payload = fields.LONGEST[file.folder]
    try:
        text = templates.render(
            file.folder, Channel.SMS, file.locale, payload, brand=brand, footer=True, today=day
        ).text
    except TemplateFault:
        return  # reported by _renders
    sms = plan(text)
    parts = len(sms.parts)
    report.sms.append(SmsFit(file.rel, file.locale, sms.encoding, len(text), parts))
    if parts <= max_parts:
        return
    used = [n for n in file.names if n in payload]
    longest = max(used, key=lambda n: len(str(payload[n])), default="")
    line = next((u.line for u in file.uses if u.detail == longest), 1)
    report.problems.append(
        Problem(
            file.rel,
            line,
            longest,
            f"{parts} SMS parts ({sms.encoding}, {len(text)} characters) for a realistic "
            f"longest payload; the limit is {max_parts} ([sms] max_parts)",
            "shorten the wording (UCS-2 holds 67 characters a part, GSM-7 153), or raise "
            "[sms] max_parts",
        )
    )


def _coverage(templates: TemplateSet, configured: tuple[str, ...], report: LintReport) -> None:
    default = templates.default_locale
    for kind in Kind:
        for channel in CHANNELS:
            for locale in configured:
                found = templates.resolve(kind.value, channel, locale)
                missing = f"{kind.value}/{channel.value}.{default}.j2"
                if found is None:
                    report.problems.append(
                        Problem(
                            missing,
                            0,
                            locale,
                            f"no {kind.value} {channel.value} template for the configured "
                            f"locale {locale!r}, nor for the default locale {default!r}",
                            f"add {kind.value}/{channel.value}.{locale}.j2 or {missing}",
                        )
                    )
                elif _language(found.file.locale) != _language(locale):
                    report.warnings.append(
                        Problem(
                            f"{kind.value}/{channel.value}.{locale}.j2",
                            0,
                            locale,
                            f"{locale} customers get {found.file.rel} ({found.file.locale})",
                            f"add {kind.value}/{channel.value}.{locale}.j2 in their language",
                        )
                    )
                footer = (
                    templates.resolve(FOOTER, Channel.SMS, found.file.locale)
                    if (found is not None and channel is Channel.SMS)
                    else True
                )
                if found is not None and footer is None:
                    report.problems.append(
                        Problem(
                            f"{FOOTER}/sms.{found.file.locale}.j2",
                            0,
                            "footer",
                            f"no opt-out footer for {found.file.locale} nor {default}",
                            f"add {FOOTER}/sms.{default}.j2 (e.g. Reply STOP to opt out.)",
                        )
                    )


def _language(tag: str) -> str:
    return locales.normalize(tag).split("-")[0]


def _providers(templates: TemplateSet, report: LintReport) -> None:
    kinds = {k.value for k in Kind}
    for (provider, kind, locale), entry in sorted(templates.providers.items()):
        where = f"{provider}.{kind}.{locale}"
        if kind not in kinds:
            report.problems.append(
                Problem(
                    PROVIDERS_FILE,
                    entry.line,
                    where,
                    f"unknown kind {kind!r}",
                    f"use one of: {', '.join(sorted(kinds))}",
                )
            )
            continue
        known = set(fields.FIELDS[kind])
        for param, source in sorted(entry.params.items()):
            if source not in known:
                report.problems.append(
                    Problem(
                        PROVIDERS_FILE,
                        entry.line,
                        f"{where}.params.{param}",
                        f"parameter {param!r} takes {source!r}, which a {kind} payload "
                        "does not have",
                        f"use one of: {', '.join(sorted(known))}",
                    )
                )
