"""CLI start-up: wall time of everyday commands beside ``python -c "import click"``.

Each command runs as a fresh process of the venv's ``outbound`` script against a migrated
SQLite database in a temporary directory holding one customer (C1) and one notification (1):
``why 42`` finds nothing and exits 3 (start-up, configuration, schema check, one query);
``why 1`` and ``customer show C1`` find theirs and draw their tables (rich) as an operator sees
them. The
peers, measured in the same run and interleaved with the commands so that a busy machine slows
all alike: ``python -c "import click"`` (the floor any click CLI pays) and ``python -c "import
sqlalchemy"`` (what a command that opens the database cannot avoid), and that with ``import
click`` and one statement on the SQLite file (the floor of any click command reading it through
SQLAlchemy: what outbound's own modules, schema check and query add is the difference).

Besides the wall time, each run's CPU time (user + system) is reported: on a shared machine it
moves less with the load. Run: ``.venv/bin/python -m benchmarks.cli_start [--rounds 7]``. Prints the medians and writes
``benchmarks/results/cli_start.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS_DIR

OUTBOUND = str(Path(sys.executable).with_name("outbound"))
#: the floor of any click command that reads the database through SQLAlchemy: both imports, the
#: SQLite dialect, one connection and one statement (no outbound module)
FLOOR = (
    "import click, sqlalchemy\n"
    "engine = sqlalchemy.create_engine('sqlite:///outbound.db')\n"
    "with engine.connect() as conn:\n"
    "    conn.exec_driver_sql('SELECT 1').all()"
)
CASES: dict[str, list[str]] = {
    "python -c 'import click'": [sys.executable, "-c", "import click"],
    "python -c 'import sqlalchemy'": [sys.executable, "-c", "import sqlalchemy"],
    "click + sqlalchemy + sqlite query": [sys.executable, "-c", FLOOR],
    "outbound --help": [OUTBOUND, "--help"],
    "outbound why 42": [OUTBOUND, "why", "42"],
    "outbound why 1 (found)": [OUTBOUND, "why", "1"],
    "outbound customer show C1": [OUTBOUND, "customer", "show", "C1"],
}
CUSTOMERS = (
    "external_id,phone,timezone,locale,preference,opt_in\n"
    "C1,+4915112345678,Europe/Berlin,de,sms,sms:transactional\n"
)
SHIPPING = '{"order_id":"A1","carrier":"DHL","tracking_no":"T9","eta":"2026-12-01"}'


def _prepare(work: Path) -> None:
    """Init, one customer and one notification (``why 1`` and ``customer show C1`` find them)."""
    (work / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    for args in (
        ["init"],
        ["customer", "import", "customers.csv"],
        ["send", "shipping", "--customer", "C1", "--data", SHIPPING],
    ):
        subprocess.run([OUTBOUND, *args], cwd=work, capture_output=True, check=True, timeout=300)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run: on a shared machine the CPU time
    moves less with the load than the wall time does."""
    cpu, start = _cpu(), time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, timeout=120)
    return time.perf_counter() - start, _cpu() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli_start")
    parser.add_argument("--rounds", type=int, default=7, help="runs of each command (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outbound-cli-bench-") as tmp:
        work = Path(tmp)
        _prepare(work)
        for cmd in CASES.values():  # warm the page cache and the bytecode
            _wall(cmd, work)
        times: dict[str, list[float]] = {name: [] for name in CASES}
        cpus: dict[str, list[float]] = {name: [] for name in CASES}
        for _ in range(args.rounds):
            for name, cmd in CASES.items():
                wall, cpu = _wall(cmd, work)
                times[name].append(wall)
                cpus[name].append(cpu)
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpus.items()}
    floor = medians["python -c 'import click'"]
    print(f"{'command':32} {'median s':>9} {'min s':>7} {'cpu s':>6} {'vs import click':>16}")
    for name, values in times.items():
        print(
            f"{name:32} {medians[name]:9.3f} {min(values):7.3f} {cpu_medians[name]:6.3f}"
            f" {medians[name] / floor:15.1f}x"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    out = {
        "rounds": args.rounds,
        "median_s": medians,
        "min_s": {k: min(v) for k, v in times.items()},
        "median_cpu_s": cpu_medians,
    }
    (RESULTS_DIR / "cli_start.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
