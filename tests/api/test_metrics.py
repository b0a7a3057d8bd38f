"""GET /metrics: the Prometheus text of a real API process after real traffic, checked by
promtool; a worker role's own /metrics port; the example alert rules and dashboard."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from outbound.observability import metrics
from tests.api.conftest import Server
from tests.api.test_api import shipping_event
from tests.conftest import ROOT, require_tool
from tests.integration.helpers import NY, add_customer

DEPLOY = ROOT / "deploy"


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _series(body: str, name: str) -> dict[str, float]:
    """``{label text: value}`` of one metric family in exposition text."""
    found = {}
    for line in body.splitlines():
        match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def test_metrics_after_an_event_and_a_batch_pass_promtool_and_count_what_happened(
    server: Server,
) -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    add_customer(server.app, "C1", NY, preference="sms", timezone="America/New_York")
    sms_sent = _value("outbound_deliveries_total", channel="sms", outcome="delivered")
    accepted = _value("outbound_ingest_requests_total", path="/v1/events", status="202")
    batches = _value("outbound_claim_batch_size_count")

    assert server.post(shipping_event()).status_code == 202
    assert server.app.dispatcher().run_once() == 1
    response = httpx.get(f"{server.url}/metrics", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = response.text
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert _value("outbound_deliveries_total", channel="sms", outcome="delivered") == sms_sent + 1
    assert _value("outbound_ingest_requests_total", path="/v1/events", status="202") == accepted + 1
    assert _value("outbound_claim_batch_size_count") == batches + 1
    # read from the database at scrape time: the one delivery is done, so nothing is queued
    assert _series(body, "outbound_database_up") == {"": 1.0}
    assert _series(body, "outbound_queue_oldest_due_seconds") == {"": 0.0}
    assert _series(body, "outbound_audit_head_seq")[""] >= 1
    assert "+1212" not in body and "C1" not in body  # no phone, no customer in any label


def test_a_decision_is_counted_by_verdict_and_rule(server: Server) -> None:
    add_customer(server.app, "C2", NY, preference="sms", timezone="America/New_York")
    sends = _value("outbound_decisions_total", decision="send", rule="send")
    assert server.post(shipping_event("A2", "C2")).status_code == 202
    # planned at intake (send now), then re-checked when the worker claims it
    server.app.dispatcher().run_once()
    assert _value("outbound_decisions_total", decision="send", rule="send") == sends + 2


def test_a_worker_role_serves_its_metrics_on_its_own_port() -> None:
    server = metrics.serve_metrics("127.0.0.1", 0)
    try:
        host, port = server.server_address[:2]
        response = httpx.get(f"http://{host}:{port}/metrics", timeout=30)
    finally:
        server.shutdown()
    assert response.status_code == 200
    assert "# TYPE outbound_claim_seconds histogram" in response.text


def test_the_example_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    checked = subprocess.run(
        [promtool, "check", "rules", "alerts.yml"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_metric_the_dashboard_and_alerts_query_is_one_outbound_exports() -> None:
    exported = set(re.findall(r"^# TYPE (\S+) (\w+)", metrics.render().decode(), re.MULTILINE))
    names = {n for n, _ in exported}
    names |= {f"{n}_{s}" for n, t in exported if t == "histogram" for s in ("bucket", "count")}
    names |= {f"{n}_total" for n, t in exported if t == "counter"}
    names |= {  # read from the database at scrape time, present once an app is watched
        "outbound_queue_depth",
        "outbound_queue_oldest_due_seconds",
        "outbound_audit_checkpoint_age_seconds",
        "outbound_processes_alive",
    }
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries.append(Path(DEPLOY / "alerts.yml").read_text())
    used = {m for q in queries for m in re.findall(r"\b(outbound_[a-z_]+)", q)}
    assert sorted(used - names) == []
    assert len(dashboard["panels"]) == 20


def test_every_api_answer_carries_a_request_id_and_echoes_a_given_one(server: Server) -> None:
    fresh = httpx.get(f"{server.url}/healthz", timeout=30)
    given = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "lb-42"}, timeout=30)
    hostile = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "a b<c>"}, timeout=30)
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert given.headers["x-request-id"] == "lb-42"
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])  # replaced, not echoed
