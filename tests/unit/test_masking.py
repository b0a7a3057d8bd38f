from __future__ import annotations

from outbound.domain.masking import mask_phone, mask_text


def test_phone_keeps_country_prefix_and_last_four_digits_only() -> None:
    assert mask_phone("+8613800135678") == "+86*******5678"
    assert mask_phone("+12125550123") == "+1******0123"


def test_numbers_inside_free_text_are_masked() -> None:
    text = mask_text("call +4915112345678 or +12125550123 now")
    assert "+4915112345678" not in text and "+12125550123" not in text
    assert text == "call +49*******5678 or +1******0123 now"


def test_short_values_are_fully_masked() -> None:
    assert mask_phone("+1555") == "+****"


def test_log_lines_and_tracebacks_are_masked_by_the_formatter() -> None:
    import logging

    from outbound.domain.masking import MaskingFormatter

    try:
        raise ValueError("duplicate phone +8613800135678")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "send to %s failed", ("+12125550123",), sys.exc_info()
        )
    line = MaskingFormatter("%(message)s").format(record)
    assert "+12125550123" not in line and "+8613800135678" not in line
    assert "+1******0123" in line and "+86*******5678" in line
