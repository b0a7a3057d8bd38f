# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Bytecode is written on first import (pip installs with --no-compile, below). These machines
# set PYTHONDONTWRITEBYTECODE=1 in the environment: then no .pyc was ever kept for what the
# first process did not happen to write, and every process compiled alembic, APScheduler,
# phonenumbers' data ... from source again (a fresh-clone test run took ~200 s longer than the
# same run in a warm checkout). Empty means unset to Python.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: setup system-deps demo test test-stress lint check unit bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile 'uv>=0.5'
	# uv fetches in parallel: ~13 s here where pip took ~40 s (no HTTP cache through this proxy);
	# the same versions from the same metadata. No bytecode at install: written on first import.
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

system-deps:
	./scripts/install-system-deps.sh

demo: setup
	$(BIN)/outbound demo

lint: setup
	$(BIN)/ruff check outbound tests benchmarks
	$(BIN)/ruff format --check outbound tests benchmarks
	$(BIN)/mypy outbound

# The loopback SMSC of outbound/testing/smsc_js (npm package smpp, pinned in its package-lock.json).
SMSC_MODULES := outbound/testing/smsc_js/node_modules/.package-lock.json
$(SMSC_MODULES): outbound/testing/smsc_js/package.json outbound/testing/smsc_js/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ with npm" >&2; exit 1; }
	cd outbound/testing/smsc_js && npm ci --no-audit --no-fund

# pytest-xdist: TEST_WORKERS processes, one per core. One more worker (nproc + 1) is faster
# (10.8 min of pytest instead of ~13 on 2 cores) but the extra load garbled a live call's audio
# in one of three fresh-clone runs, and tests must pass on a busy machine. SIP/voice, browser, shared-demo
# and own-cluster PostgreSQL tests are grouped (tests/conftest.py) so they never run beside
# their own kind; the PostgreSQL cluster is started once per run and shared by the workers.
TEST_WORKERS ?= $(shell nproc)
PYTEST_FAST := -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations=25

test: system-deps setup lint $(SMSC_MODULES)
	CI=$${CI:-} $(BIN)/python -m pytest -q $(PYTEST_FAST) tests

# The inner loop: lint, types and the unit tests (well under 2 minutes).
check: setup lint
	$(BIN)/python -m pytest -q $(PYTEST_FAST) tests/unit

# The voice tests beside `stress-ng --cpu 2` (started and stopped by PID in the script).
test-stress: system-deps setup
	./scripts/test-stress.sh $(BIN)/python tests/voice

unit: setup
	$(BIN)/python -m pytest -q tests/unit

bench: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) outbound-demo.db* .pytest_cache .mypy_cache .ruff_cache
