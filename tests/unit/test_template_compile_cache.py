"""A template file is compiled once per process for the same text: App builds, reloads and test
fixtures over an unchanged folder reuse it; an edited file is compiled again."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbound.domain.values import Channel
from outbound.services.templates import sandbox
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


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sandbox._compiled.cache_clear()  # as a new process would start
    return tmp_path / "cache" / "outbound" / "templates"


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("parsed: the code did not come from the cache")

    monkeypatch.setattr(sandbox._ENV, "parse", refuse)


def test_a_new_process_takes_the_compiled_code_from_the_private_cache(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path / "sms.en.j2", "Parcel {{ order_id }} {% block x %}{% endblock %}")
    first = compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    assert oct(cache_home.stat().st_mode & 0o777) == "0o700"
    assert len(list(cache_home.glob("*.bin"))) == 1

    sandbox._compiled.cache_clear()
    _no_parsing(monkeypatch)
    cached = compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    assert cached.template.render(order_id="A1") == "Parcel A1 "
    assert (cached.uses, cached.blocks) == (first.uses, first.blocks) != ((), frozenset())

    _file(path, "Order {{ order_id }} shipped.")  # an edited text misses: it is parsed
    with pytest.raises(AssertionError, match="parsed"):
        compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")


def test_a_cache_others_can_write_to_is_not_used(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path / "sms.en.j2", "Parcel {{ order_id }}.")
    compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    cache_home.chmod(0o777)
    sandbox._compiled.cache_clear()
    _no_parsing(monkeypatch)
    with pytest.raises(AssertionError, match="parsed"):
        compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")


def test_a_corrupt_entry_is_compiled_again_and_replaced(tmp_path: Path, cache_home: Path) -> None:
    path = _file(tmp_path / "sms.en.j2", "Parcel {{ order_id }}.")
    compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    (entry,) = cache_home.glob("*.bin")
    entry.write_bytes(b"\x00not marshal")
    sandbox._compiled.cache_clear()
    again = compile_file(path, "shipping/sms.en.j2", "shipping", Channel.SMS, "en")
    assert again.template.render(order_id="A1") == "Parcel A1."
    assert entry.read_bytes() != b"\x00not marshal"
