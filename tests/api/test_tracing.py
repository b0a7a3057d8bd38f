"""Optional OpenTelemetry traces (outbound.observability.tracing): the API as ``outbound serve``
builds it, turned on by ``OUTBOUND_OTEL_ENABLED=1`` alone, on a real uvicorn on 127.0.0.1, in a
process of its own (tests/api/otel_probe.py: a tracer provider is once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from outbound.config import load_settings
from outbound.domain.errors import ConfigError
from outbound.observability import tracing
from outbound.store.db import make_engine, upgrade
from outbound.testing.postgres import free_port
from tests.conftest import CONFIG_DIR, ROOT


def _probe(tmp_path: Path, mode: str, **env: str) -> tuple[dict[str, Any], str]:
    url = f"sqlite:///{tmp_path / 'outbound.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "OUTBOUND_OTEL_ENABLED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.api.otel_probe", url, mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_with_otel_enabled_a_request_gives_an_http_span_and_its_sql_spans(tmp_path: Path) -> None:
    out, _ = _probe(tmp_path, "memory")
    assert out["statuses"] == [200, 200]
    spans = out["spans"]
    http = [s for s in spans if s["kind"] == "SERVER"]
    assert [s["name"] for s in http] == ["GET /readyz", "GET /readyz"]
    assert all(s["attributes"]["http.route"] == "/readyz" for s in http)
    assert all(s["attributes"]["http.status_code"] == 200 for s in http)
    statements = [s["attributes"].get("db.statement") for s in spans if s["kind"] == "CLIENT"]
    assert "SELECT 1" in statements  # /readyz pings the database
    assert "SELECT version_num FROM alembic_version" in statements  # and checks its schema
    assert {s["attributes"].get("db.system") for s in spans if s["kind"] == "CLIENT"} == {"sqlite"}


def test_an_unreachable_collector_is_one_warning_line_and_the_api_keeps_answering(
    tmp_path: Path,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/traces"
    out, stderr = _probe(tmp_path, "unreachable", OUTBOUND_OTEL_ENDPOINT=closed)
    assert out["statuses"] == [200, 200]
    warnings = [line for line in stderr.splitlines() if "OTLP endpoint" in line]
    assert len(warnings) == 1, stderr
    assert closed in warnings[0] and "[otel] endpoint" in warnings[0]
    assert "Traceback" not in stderr


def test_otel_is_off_by_default_and_instruments_nothing() -> None:
    settings = load_settings(CONFIG_DIR, environ={})
    assert settings.otel.enabled is False
    assert tracing.instrument(settings.otel, None, None) is False  # type: ignore[arg-type]


def test_enabled_without_the_packages_names_the_setting_and_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.fastapi", None)
    with pytest.raises(ConfigError) as err:
        tracing.require_packages()
    text = str(err.value)
    assert "[otel] enabled" in text and "OUTBOUND_OTEL_ENABLED" in text
    assert "pip install 'outbound[otel]'" in text
    assert "opentelemetry.instrumentation.fastapi" in text
