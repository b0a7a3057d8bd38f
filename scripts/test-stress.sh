#!/usr/bin/env bash
# The voice tests beside two CPU-bound processes (`stress-ng --cpu 2`): a voice robot must not
# depend on an idle machine. stress-ng is started here and stopped by its PID, whatever happens.
# Usage: scripts/test-stress.sh [PYTHON] [pytest args...]   (default: tests/voice)
set -uo pipefail
PYTHON=${1:-.venv/bin/python}
shift || true
command -v stress-ng >/dev/null || { echo "stress-ng not found: run scripts/install-system-deps.sh" >&2; exit 1; }
stress-ng --cpu 2 --timeout 3600s --quiet &
STRESS=$!
trap 'kill "$STRESS" 2>/dev/null; wait "$STRESS" 2>/dev/null' EXIT
echo "stress-ng --cpu 2 running as PID $STRESS"
if [ $# -eq 0 ]; then set -- tests/voice; fi
CI=${CI:-true} "$PYTHON" -m pytest -q -p no:cacheprovider "$@"
