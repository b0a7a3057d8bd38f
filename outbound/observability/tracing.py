"""Optional OpenTelemetry traces: FastAPI and SQLAlchemy spans of the API, to an OTLP exporter.

Off by default; ``[otel] enabled = true`` (or ``OUTBOUND_OTEL_ENABLED=1``) turns it on, with the
packages of ``pip install 'outbound[otel]'``. Spans go to ``[otel] endpoint`` over OTLP/HTTP
from a background thread (``BatchSpanProcessor``): a collector that does not answer costs the
API nothing but dropped spans, and is said once in the log (not once per batch), then again
when it answers.

What a span carries: the HTTP route, method, status and path without its query (FastAPI); the
SQL text with its bound
parameters as placeholders, never their values (SQLAlchemy), so no phone number, token or
secret reaches a trace. Request and response headers are not recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from outbound.domain.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from outbound.config.sections import OtelSection

log = logging.getLogger("outbound.otel")

#: the packages ``[otel] enabled`` needs (the ``otel`` extra of pyproject.toml)
PACKAGES = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.instrumentation.fastapi",
    "opentelemetry.instrumentation.sqlalchemy",
)
#: the exporter's own logger, quieted: ``_Reported`` says it once instead of once per batch
_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter",)

_lock = threading.Lock()
_provider: Any = None  # this process's TracerProvider, made once
_engines: set[int] = set()


def require_packages() -> None:
    """A ConfigError naming the setting and the install line when a package is missing."""
    import importlib

    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing = exc.name or name
            raise ConfigError(
                f"[otel] enabled = true (OUTBOUND_OTEL_ENABLED) needs the OpenTelemetry "
                f"packages, and {missing} is not installed; install them with "
                "pip install 'outbound[otel]', or set [otel] enabled = false"
            ) from None


def tracer_provider(otel: OtelSection, exporter: Any = None) -> Any:
    """This process's TracerProvider, made at the first call: spans to ``exporter`` (tests:
    an in-memory one) or to the OTLP/HTTP exporter at ``[otel] endpoint``."""
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        require_packages()
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        where = otel.endpoint or "the exporter's default endpoint"
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            for name in _EXPORTER_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)
            exporter = OTLPSpanExporter(endpoint=otel.endpoint or None, timeout=5)
        provider = TracerProvider(resource=Resource.create({"service.name": otel.service_name}))
        provider.add_span_processor(BatchSpanProcessor(_reported(exporter, where)))
        _provider = provider
        log.info("OpenTelemetry traces on: spans to %s", where)
        return provider


def instrument(otel: OtelSection, api: FastAPI, engine: Engine) -> bool:
    """FastAPI and SQLAlchemy spans for ``api`` and ``engine`` when ``[otel] enabled``; whether
    it was done. A missing package is a ConfigError naming the setting and the fix."""
    if not otel.enabled:
        return False
    provider = tracer_provider(otel)
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FastAPIInstrumentor.instrument_app(
        api,
        tracer_provider=provider,
        server_request_hook=_path_only,
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    with _lock:
        if not _engines:  # one instrumentor per process (it is a singleton)
            SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
        _engines.add(id(engine))
    return True


def _path_only(span: Any, scope: dict[str, Any]) -> None:
    """The request's URL without its query string (a query may carry a customer's data)."""
    if span is None or not span.is_recording():
        return
    path = str(scope.get("path", ""))
    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
    span.set_attribute("http.target", path)
    span.set_attribute("http.url", f"{scope.get('scheme', 'http')}://{host}{path}")


def _reported(inner: Any, where: str) -> Any:
    """``inner`` wrapped: a failed export is one warning line until an export succeeds again."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Reported(SpanExporter):
        def __init__(self) -> None:
            self.down = False

        def export(self, spans: Sequence[Any]) -> Any:
            try:
                result = inner.export(spans)
            except Exception as exc:  # an exporter must not take the batch thread down
                log.debug("OTLP export raised %s", type(exc).__name__)
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.FAILURE and not self.down:
                self.down = True
                log.warning(
                    "OpenTelemetry: the OTLP endpoint %s does not take spans; they are dropped "
                    "until it does (check [otel] endpoint and the collector); serving goes on",
                    where,
                )
            elif result is SpanExportResult.SUCCESS and self.down:
                self.down = False
                log.warning("OpenTelemetry: the OTLP endpoint %s takes spans again", where)
            return result

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return bool(inner.force_flush(timeout_millis))

    return Reported()
