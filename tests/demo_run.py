"""One ``outbound -vv demo`` per test session, shared by the tests that check what it did.

The demo takes about a minute (live SIP calls in real time, the scheduler, SMPP delivery
receipts), so the tests that only look at a finished demo (its report, its log at ``-vv``, its
live-call table, its database) share one run: the ``demo_run`` fixture (tests/conftest.py),
session-scoped, its consumers in one xdist group (``demo``) so the run happens once per session.
The run is a user's: the ``outbound`` of the wheel installed in a fresh venv
(``installed_wheel``, tests/installed_wheel.py), a fresh empty directory outside the checkout,
no PYTHONPATH and no ``OUTBOUND_*`` settings, stdout the report (not a terminal), stderr the
``-vv`` log; so it is also the installed wheel's demo, which
tests/integration/test_wheel_install.py checks. The consumers only read: the report, the log,
and the database (``why``, ``campaign report``).

``section`` and ``table_rows`` read the report generically: a section is found by the start of
its title, a table's columns by its dashes line, so new lines or rows in the demo (another
source, another channel) do not move what a test looks for.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len

from tests.conftest import require_tool
from tests.installed_wheel import InstalledWheel, user_env
from tests.sms.conftest import SMS_DIR, ensure_node_modules

DEMO_SECONDS = 600  # a bound on a hung demo, not a speed target (benchmarks hold those)


@dataclass(frozen=True)
class DemoRun:
    directory: Path  # the fresh directory it ran in (cwd): outbound-demo.db is there
    stdout: str  # the report
    stderr: str  # the log at -vv
    env: dict[str, str]  # the environment it ran with (for follow-up commands)
    outbound: Path  # the program that ran: the installed wheel's ``outbound``

    @property
    def db(self) -> Path:
        return self.directory / "outbound-demo.db"

    def lines(self, prefix: str) -> list[str]:
        """The report's ``- …`` progress lines that start with ``prefix`` (after the dash)."""
        return [line[2:] for line in self.stdout.splitlines() if line.startswith(f"- {prefix}")]


def run_demo(directory: Path, installed: InstalledWheel) -> DemoRun:
    require_tool("espeak-ng")  # the robot's prompts and the callees' voices
    # the demo's SMS then go over SMPP, bind password and all: the installed smsc.js gets the
    # node_modules that `npm ci` of the same package-lock.json (the wheel carries it) made here
    ensure_node_modules()
    modules = installed.package / "testing" / "smsc_js" / "node_modules"
    if not modules.exists():
        modules.symlink_to(SMS_DIR / "node_modules", target_is_directory=True)
    env = user_env()
    proc = subprocess.run(
        [installed.outbound, "-vv", "demo"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_SECONDS,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return DemoRun(directory, proc.stdout, proc.stderr, env, installed.outbound)


def section(report: str, title: str) -> list[str]:
    """The lines of the report's section whose title starts with ``title``, up to the blank
    line that ends it (title excluded)."""
    lines = report.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(title)]
    assert len(starts) == 1, (title, report)
    body = []
    for line in lines[starts[0] + 1 :]:
        if not line.strip():
            break
        body.append(line)
    return body


def _cut(line: str, start: int, end: int) -> str:
    """The characters of ``line`` in terminal cells ``start``..``end`` (CJK counts double)."""
    out, at = [], 0
    for char in line:
        if start <= at < end:
            out.append(char)
        at += cell_len(char)
    return "".join(out).strip()


def table_rows(report: str, title: str) -> list[dict[str, str]]:
    """The rows of the report's table titled ``title…``: header line, dashes line, rows."""
    header, dashes, *rows = section(report, title)
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", dashes)]
    names = [_cut(header, a, b) for a, b in spans]
    return [dict(zip(names, (_cut(row, a, b) for a, b in spans), strict=True)) for row in rows]
