"""Run by tests/api/test_tracing.py in a process of its own (OpenTelemetry's tracer provider and
the SQLAlchemy instrumentor are once per process): the API as ``outbound serve`` builds it
(``mains.serve.api_server``), with ``OUTBOUND_OTEL_ENABLED=1`` from the environment, on a real
uvicorn on 127.0.0.1; two ``GET /readyz``; then one JSON line on stdout.

``python -m tests.api.otel_probe DB_URL memory``: spans to an in-memory exporter; prints them.
``python -m tests.api.otel_probe DB_URL unreachable``: spans to ``[otel] endpoint`` (a closed
loopback port, from OUTBOUND_OTEL_ENDPOINT); prints the statuses of the requests.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import httpx

from outbound import bootstrap
from outbound.config import load_settings
from outbound.domain.masking import configure_logging
from outbound.mains.serve import api_server
from outbound.observability import tracing
from outbound.testing.postgres import free_port
from tests.conftest import CONFIG_DIR


def main(url: str, mode: str) -> None:
    configure_logging()
    settings = load_settings(CONFIG_DIR, {"database": {"url": url}})
    assert settings.otel.enabled, "OUTBOUND_OTEL_ENABLED=1 was not read"
    memory: Any = None
    if mode == "memory":
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        memory = InMemorySpanExporter()
        tracing.tracer_provider(settings.otel, exporter=memory)
    app = bootstrap.build(settings)
    port = free_port()
    server = api_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    statuses = []
    provider = tracing.tracer_provider(settings.otel)
    for _ in range(2):
        statuses.append(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code)
        provider.force_flush()  # each batch exported (or tried) now, not in 5 s
    out: dict[str, Any] = {"statuses": statuses}
    if memory is not None:
        out["spans"] = [
            {"name": s.name, "kind": s.kind.name, "attributes": dict(s.attributes or {})}
            for s in memory.get_finished_spans()
        ]
    server.should_exit = True
    thread.join(10)
    app.close()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
