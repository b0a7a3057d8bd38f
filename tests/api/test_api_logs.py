"""The API server's uvicorn logs go through outbound's masking handler, not uvicorn's own."""

from __future__ import annotations

import logging
from collections.abc import Callable

from outbound import bootstrap
from outbound.mains.serve import api_server
from tests.logcheck import leaks, logs_at_debug

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def test_uvicorn_lines_of_the_api_server_are_masked_and_stay_quiet_at_vv(
    make_app: Callable[..., bootstrap.App],
) -> None:
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    saved = [(lg.handlers[:], lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:  # as in a fresh process: nothing configured uvicorn yet
        lg.handlers, lg.propagate = [], True
    try:
        with logs_at_debug() as buffer:
            api_server(make_app(), "127.0.0.1", 0)
            assert [lg.name for lg in loggers if lg.handlers] == []  # no unmasked handler
            logging.getLogger("uvicorn.access").info("GET /x?phone=%s 200", "+14155550123")
            logging.getLogger("uvicorn.error").warning("client sent %s", "+14155550123")
    finally:
        for lg, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            lg.handlers, lg.propagate, lg.level = handlers, propagate, level
    text = buffer.getvalue()
    assert "GET /x" not in text  # request lines stay quiet at -vv
    assert "client sent +1******0123" in text  # a warning gets through, masked
    assert leaks(text, ["+14155550123"]) == []
