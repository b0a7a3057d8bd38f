"""``make test`` runs under xdist with ``--dist loadgroup``: the tests that would fight over SIP
ports, the console's browser or PostgreSQL clusters of their own share a group (one worker), as
do the tests that read the session's one ``outbound demo`` run (``demo_run``) with the wheel's
tests (that run is the installed wheel's); every other module is a group of its own."""

from __future__ import annotations

import pytest

from tests.conftest import xdist_group_of


@pytest.mark.parametrize(
    ("nodeid", "group"),
    [
        ("tests/voice/test_admission_calls.py::test_a_refusing_dialer", "voice"),
        ("tests/voice/test_callee_calls.py::test_calls", "voice"),
        ("tests/voice/test_demo_calls.py::test_demo_calls_people", "demo"),
        ("tests/integration/test_cli.py::test_demo_runs_from_a_fresh_directory", "demo"),
        ("tests/integration/test_demo_logs.py::test_demo_at_vv", "demo"),
        ("tests/evidence/test_campaign_report.py::test_report_charts_each_send_in", "demo"),
        ("tests/integration/test_wheel_install.py::test_wheel_carries_the", "demo"),
        ("tests/integration/test_wheel_install.py::test_installed_wheel_runs", "demo"),
        ("tests/integration/test_cli.py::test_init_db", "tests/integration/test_cli.py"),
        ("tests/console/test_login_throttle.py::test_throttle", "browser"),
        ("tests/console/test_console_hardening.py::test_headers", "browser"),
        ("tests/api/test_outage.py::test_outage", "pg-own"),
        ("tests/integration/test_pg_fixture_smoke.py::test_smoke[x]", "pg-own"),
        ("tests/push/test_push_targets.py::test_x", "tests/push/test_push_targets.py"),
        (
            "tests/integration/test_cli_refusals.py::test_y[sqlite]",
            "tests/integration/test_cli_refusals.py",
        ),
        (
            "tests/integration/test_voice_admission_state.py::test_z",
            "tests/integration/test_voice_admission_state.py",
        ),
    ],
)
def test_each_test_gets_its_shared_group_or_its_module(nodeid: str, group: str) -> None:
    assert xdist_group_of(nodeid) == group
