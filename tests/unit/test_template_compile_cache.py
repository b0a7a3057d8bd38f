"""A template file is compiled once per process for the same text: App builds, reloads and test
fixtures over an unchanged folder reuse it; an edited file is compiled again."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbound.domain.values import Channel
from outbound.services.templates.sandbox import CompileError, compile_file


def _file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_same_text_is_compiled_once_and_an_edited_text_again(tmp_path: Path) -> None:
    path = _file(tmp_path / "sms.en.j2", "Parcel {{ order_id }} is on its way.")
    first = compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    again = compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    assert again.template is first.template
    assert first.template.render(order_id="A1") == "Parcel A1 is on its way."

    _file(path, "Order {{ order_id }} shipped.")
    edited = compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    assert edited.template is not first.template
    assert edited.template.render(order_id="A1") == "Order A1 shipped."
    assert [u.detail for u in edited.uses if u.what == "name"] == ["order_id"]


def test_a_broken_text_fails_every_time_with_its_line(tmp_path: Path) -> None:
    path = _file(tmp_path / "sms.en.j2", "line one\n{{ order_id }\n")
    for _ in range(2):  # a failure is not remembered as a success
        with pytest.raises(CompileError) as caught:
            compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
        assert caught.value.lineno == 2
