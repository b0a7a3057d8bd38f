"""Prompt templates allow only ``{name}`` of known fields and render without ``str.format``."""

from __future__ import annotations

import pytest

from outbound.voice.template import fields, problems, render

KNOWN = {"brand", "tier"}
NOT_PLAIN = "is not a plain {name}: no format spec, conversion, attribute or index is allowed"


@pytest.mark.parametrize(
    "text",
    ["{brand:>300000000}", "{0}", "{brand!z}", "{brand.__class__.__mro__[1].__subclasses__}", "{}"],
)
def test_anything_but_a_plain_name_is_a_problem(text: str) -> None:
    assert problems(f"Hi {text}.", KNOWN) == [f"placeholder {text!r} {NOT_PLAIN}"]


def test_an_unknown_name_is_named_with_the_known_ones() -> None:
    assert problems("{colour}", KNOWN) == [
        "placeholder '{colour}' is not a known field; known: ['brand', 'tier']"
    ]


@pytest.mark.parametrize(("text", "where"), [("Hi {brand", 4), ("Hi } {brand}", 4)])
def test_an_unmatched_brace_is_a_problem_not_a_crash(text: str, where: int) -> None:
    (message,) = problems(text, KNOWN)
    assert message.startswith(f"has an unmatched '{text[where - 1]}' at character {where}")


def test_doubled_braces_are_literal_and_fine() -> None:
    assert problems("{{brand}} {brand}", KNOWN) == []
    assert fields("{{x}} {brand} {tier:>9}") == {"brand"}
    assert render("{{brand}} is {brand}", {"brand": "Acme"}) == "{brand} is Acme"


def test_render_fills_names_once_and_never_expands_a_value() -> None:
    values = {"brand": "{tier.__class__}", "tier": "Gold"}
    assert render("{brand} / {tier} / {missing}", values) == "{tier.__class__} / Gold / "


def test_render_keeps_a_malformed_placeholder_as_written() -> None:
    text = "{brand:>300000000}{0}{brand!z}{brand.__class__}"
    assert render(text, {"brand": "Acme"}) == text
