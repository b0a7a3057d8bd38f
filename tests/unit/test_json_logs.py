"""--log-format json: one JSON object per line with the ids, masked exactly like human lines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from outbound.config import load_settings
from outbound.domain.errors import ConfigError
from outbound.domain.logs import bind
from outbound.domain.masking import masking_handler
from tests.conftest import CONFIG_DIR


def _lines(fmt: str, emit: object) -> list[str]:
    stream = io.StringIO()
    logger = logging.getLogger("outbound.test.jsonlogs")
    logger.handlers, logger.propagate, logger.level = [masking_handler(stream, fmt)], False, 10
    try:
        emit(logger)  # type: ignore[operator]
    finally:
        logger.handlers = []
    return stream.getvalue().splitlines()


def test_a_json_line_has_time_level_logger_message_and_the_ids_given() -> None:
    def emit(log: logging.Logger) -> None:
        with bind(request_id="req-1"):
            log.info("delivery %d failed", 7, extra={"delivery": 7, "notification": 3})

    (line,) = _lines("json", emit)
    data = json.loads(line)
    assert sorted(data) == [
        "delivery",
        "level",
        "logger",
        "message",
        "notification",
        "request_id",
        "time",
    ]
    assert (data["level"], data["logger"], data["message"]) == (
        "INFO",
        "outbound.test.jsonlogs",
        "delivery 7 failed",
    )
    assert (data["delivery"], data["notification"], data["request_id"]) == (7, 3, "req-1")
    assert data["time"].endswith("+00:00")


def test_json_lines_mask_phones_tokens_and_tracebacks_like_human_lines() -> None:
    def emit(log: logging.Logger) -> None:
        log.warning("calling +8613800138000 with Bearer abcdefghijklmnopqrstuvwxyz")
        try:
            raise RuntimeError("refused +12125550123")
        except RuntimeError:
            log.exception("send failed")

    human = "\n".join(_lines("human", emit))
    first, second = (json.loads(x) for x in _lines("json", emit))
    assert first["message"] == "calling +86*******8000 with Bearer ******"
    assert "+86*******8000" in human and "Bearer ******" in human
    assert "refused +1******0123" in second["exception"]
    assert "13800138000" not in human + json.dumps([first, second])
    assert "2125550123" not in human + json.dumps([first, second])


def test_the_log_format_setting_reads_the_environment_and_refuses_other_values() -> None:
    settings = load_settings(CONFIG_DIR, environ={"OUTBOUND_LOG_FORMAT": "json"})
    assert settings.log.format == "json"
    assert load_settings(CONFIG_DIR, environ={}).log.format == "human"
    with pytest.raises(ConfigError) as refused:
        load_settings(CONFIG_DIR, environ={"OUTBOUND_LOG_FORMAT": "xml"})
    assert "[log] format" in str(refused.value) and "xml" in str(refused.value)
