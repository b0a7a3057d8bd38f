"""``outbound templates lint``: each refusal names the file, the line, the field and the fix;
sandbox escapes are refused before and while rendering."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from outbound.defaults import default_dir
from outbound.domain.values import Channel, Kind
from outbound.services.templates.lint import lint
from outbound.services.templates.loader import load
from outbound.services.templates.sandbox import TemplateFault, environment

TODAY = date(2026, 12, 6)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of the shipped templates to break."""
    target = tmp_path / "templates"
    shutil.copytree(default_dir("templates"), target)
    return target


def _problems(directory: Path, **options: int) -> list[str]:
    report = lint(load(directory), today=TODAY, **options)  # type: ignore[arg-type]
    return [str(p) for p in report.problems]


def test_the_shipped_templates_pass_lint() -> None:
    report = lint(load(default_dir("templates")), today=TODAY)
    assert report.problems == [] and report.warnings == []
    encodings = {s.file: s.encoding for s in report.sms}
    assert encodings["price_drop/sms.fr.j2"] == "gsm7"
    assert encodings["price_drop/sms.ja.j2"] == "ucs2"
    assert len(report.sms) == 33  # 3 kinds x 11 languages


def test_an_unknown_field_is_refused_with_file_and_line(templates: Path) -> None:
    (templates / "price_drop" / "sms.de.j2").write_text(
        "{{ brand }}: {{ title }}\nnur {{ new_prize }} {{ footer }}\n"
    )
    assert _problems(templates) == [
        "price_drop/sms.de.j2:2 [new_prize]: unknown field 'new_prize' for price_drop sms; "
        "fix: use one of: brand, currency, footer, new_price, old_price, sku, title, url"
    ]


def test_a_template_that_drops_the_footer_is_refused(templates: Path) -> None:
    (templates / "renewal" / "sms.it.j2").write_text(
        "{{ brand }}: il tuo abbonamento {{ tier }}\nscade il {{ expires_on|format_date }}.\n"
    )
    assert _problems(templates) == [
        "renewal/sms.it.j2:2 [footer]: drops the opt-out footer that policies.toml "
        "footer_channels require; fix: end the text with {{ footer }} (empty where no footer "
        "is required)"
    ]


def test_a_template_without_the_brand_is_refused(templates: Path) -> None:
    (templates / "shipping" / "push.nl.j2").write_text(
        "{% block title %}Onderweg{% endblock %}\n{% block body %}{{ order_id }}{% endblock %}\n"
    )
    problems = _problems(templates)
    assert problems == [
        "shipping/push.nl.j2:1 [brand]: does not name the brand (the sender must be "
        "identified); fix: add {{ brand }} ([brand] name), e.g. at the start"
    ]


def test_a_push_without_a_title_block_is_refused(templates: Path) -> None:
    (templates / "shipping" / "push.nl.j2").write_text("{{ brand }}: {{ order_id }}\n")
    problems = _problems(templates)
    assert [p.split(":")[0:2] for p in problems] == [
        ["shipping/push.nl.j2", "1 [title]"],
        ["shipping/push.nl.j2", "1 [body]"],
    ]


def test_an_sms_over_the_part_limit_is_refused_naming_the_longest_field(templates: Path) -> None:
    problems = _problems(templates, max_parts=2)
    japanese = [p for p in problems if p.startswith("price_drop/sms.ja.j2")]
    assert japanese == [
        "price_drop/sms.ja.j2:1 [url]: 3 SMS parts (ucs2, 181 characters) for a realistic "
        "longest payload; the limit is 2 ([sms] max_parts); fix: shorten the wording (UCS-2 "
        "holds 67 characters a part, GSM-7 153), or raise [sms] max_parts"
    ]


def test_a_syntax_error_names_its_line(templates: Path) -> None:
    (templates / "renewal" / "sms.ko.j2").write_text("{{ brand }}\n{{ tier | }}\n{{ footer }}\n")
    problems = _problems(templates)
    assert len(problems) == 1 and problems[0].startswith("renewal/sms.ko.j2:2: does not compile")


@pytest.mark.parametrize(
    ("source", "field", "message"),
    [
        ("{{ ''.__class__ }}", "__class__", "sandbox escape refused: .__class__"),
        ("{{ cycler.__init__ }}", "cycler", "'cycler' is a Python object, refused by the sandbox"),
        ("{{ title.upper() }}", "()", "calls refused"),
        ("{{ title['x'] }}", "[…]", "item access refused"),
        ("{% include 'x' %}", "include", "include refused"),
    ],
)
def test_reaching_past_the_fields_is_refused(
    templates: Path, source: str, field: str, message: str
) -> None:
    (templates / "price_drop" / "sms.es.j2").write_text(
        "{{ brand }}: {{ title }}\n" + source + " {{ footer }}\n"
    )
    problems = [p for p in _problems(templates) if f"[{field}]" in p]
    assert problems and problems[0].startswith(f"price_drop/sms.es.j2:2 [{field}]: {message}")


def test_the_sandbox_refuses_an_escape_even_without_lint(templates: Path) -> None:
    (templates / "price_drop" / "sms.es.j2").write_text(
        "{{ brand }} {{ ''.__class__ }} {{ footer }}\n"
    )
    loaded = load(templates)
    payload = {"title": "T", "old_price": "2", "new_price": "1", "currency": "EUR", "url": "u"}
    with pytest.raises(TemplateFault, match=r"price_drop/sms\.es\.j2:1: refused by the sandbox"):
        loaded.render(
            Kind.PRICE_DROP, Channel.SMS, "es", payload, brand="S", footer=True, today=TODAY
        )
    with pytest.raises(SecurityError):
        environment().from_string("{{ cycler.__init__.__globals__ }}").render(cycler=object())


def test_a_configured_locale_without_any_template_is_refused(templates: Path) -> None:
    for kind in ("shipping", "renewal", "price_drop"):
        (templates / kind / "sms.en.j2").unlink()
    report = lint(load(templates), today=TODAY, configured=("en", "pl"))
    assert [str(p) for p in report.problems][:1] == [
        "shipping/sms.en.j2 [en]: no shipping sms template for the configured locale 'en', "
        "nor for the default locale 'en'; fix: add shipping/sms.en.j2 or shipping/sms.en.j2"
    ]


def test_a_configured_locale_falling_back_to_another_language_is_a_warning() -> None:
    report = lint(load(default_dir("templates")), today=TODAY, configured=("en", "pl"))
    assert report.problems == []
    assert str(report.warnings[0]) == (
        "shipping/sms.pl.j2 [pl]: pl customers get shipping/sms.en.j2 (en); "
        "fix: add shipping/sms.pl.j2 in their language"
    )


def test_a_provider_template_may_only_take_payload_fields(templates: Path) -> None:
    (templates / "providers.toml").write_text(
        "# Aliyun SMS: approved templates\n"
        "[aliyun.price_drop.zh-Hans]\n"
        'id = "SMS_000001"\n'
        'params = { name = "title", price = "new_price", code = "coupon" }\n'
    )
    loaded = load(templates)
    assert _problems(templates) == [
        "providers.toml:2 [aliyun.price_drop.zh-Hans.params.code]: parameter 'code' takes "
        "'coupon', which a price_drop payload does not have; fix: use one of: currency, "
        "new_price, old_price, sku, title, url"
    ]
    found = loaded.provider_template("aliyun", "price_drop", "zh-CN")
    assert found is not None and found.template_id == "SMS_000001"
    assert found.values({"title": "水壶", "new_price": "99.90"}) == {
        "name": "水壶",
        "price": "99.90",
    }
