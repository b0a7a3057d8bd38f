from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from outbound.domain.masking import _CALLING_CODES, mask_phone, mask_text


def test_phone_keeps_country_prefix_and_last_four_digits_only() -> None:
    assert mask_phone("+8613800135678") == "+86*******5678"
    assert mask_phone("+12125550123") == "+1******0123"


def test_numbers_inside_free_text_are_masked() -> None:
    text = mask_text("call +4915112345678 or +12125550123 now")
    assert "+4915112345678" not in text and "+12125550123" not in text
    assert text == "call +49*******5678 or +1******0123 now"


def test_the_calling_code_table_is_phonenumbers_own() -> None:
    expected = {str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
    assert sorted(_CALLING_CODES ^ expected) == [], "update masking._CALLING_CODES"


def test_three_digit_codes_and_unknown_prefixes_are_cut_where_the_code_ends() -> None:
    assert mask_phone("+380441234567") == "+380*****4567"  # Ukraine: 380, not 38 or 3
    assert mask_phone("+85212345678") == "+852****5678"  # Hong Kong
    assert mask_phone("+2821234567") == "+2*****4567"  # 28x is no country: one digit shown
    assert mask_phone("+3100000000000000000000") == "+31****************0000"  # longer than E.164


def _masked_by_phonenumbers(digits: str) -> str:
    """The masking as phonenumbers' parser cuts the code (what mask_phone did before)."""
    try:
        head = str(phonenumbers.parse("+" + digits, None).country_code)
    except phonenumbers.NumberParseException:
        head = digits[:1]
    return "+" + head + "*" * (len(digits) - len(head) - 4) + digits[-4:]


@given(st.text(alphabet="0123456789", min_size=7, max_size=15))
def test_every_e164_length_number_is_masked_as_phonenumbers_would_cut_its_code(digits: str) -> None:
    assert mask_phone("+" + digits) == _masked_by_phonenumbers(digits)


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


def test_log_lines_hide_bearer_tokens_and_push_endpoint_tokens() -> None:
    from outbound.domain.masking import mask_log_text

    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABkZ3h0bG9uZ3JhbmRvbQ"
    line = mask_log_text(f"POST {endpoint} 410; authorization: Bearer ya29.a0AfH6SMBx123456")
    assert "gAAAAABkZ3h0bG9uZ3JhbmRvbQ" not in line and "ya29.a0AfH6SMBx123456" not in line
    assert "https://updates.push.services.mozilla.com/wpush/v2/…RvbQ 410" in line
    assert "Bearer ******" in line


def test_wire_level_library_loggers_stay_quiet_at_debug() -> None:
    import logging

    from outbound.domain.masking import QUIET_LIBRARIES, configure_logging

    configure_logging(logging.DEBUG)
    try:
        assert all(
            not logging.getLogger(name).isEnabledFor(logging.INFO) for name in QUIET_LIBRARIES
        )
        assert logging.getLogger("outbound.sms").isEnabledFor(logging.DEBUG)
    finally:
        configure_logging(logging.WARNING)


def test_gtts_prompt_text_is_not_logged_at_vv_even_url_encoded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """gTTS logs each prompt's text and its request body at DEBUG; ``%2B1415…`` escapes the
    phone mask, so the library stays quiet instead."""
    import logging

    from outbound.domain.masking import configure_logging

    configure_logging(logging.DEBUG)
    try:
        logging.getLogger("gtts.tts").debug("text: call +14155550123")
        logging.getLogger("gtts.tts").debug("data-0: f.req=%5B%22%2B14155550123%22%5D")
        logging.getLogger("outbound.voice.tts").debug("still here")
    finally:
        configure_logging(logging.WARNING)
    err = capsys.readouterr().err
    assert "4155550123" not in err and "still here" in err
