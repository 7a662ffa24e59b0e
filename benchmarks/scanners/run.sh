#!/usr/bin/env bash
# Compare aisec's scanner with picklescan, modelscan and fickling; writes
# benchmarks/results/scanners.md. The third-party scanners get their own environment,
# .venv-scanners, so that they never share a process (or dependencies) with aisec.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-scanners
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# fickling 0.1.12 imports typing_extensions without declaring it.
"$VENV/bin/python" -m pip install --quiet --upgrade picklescan modelscan fickling typing_extensions \
    || echo "warning: some scanners could not be installed; their columns will say so" >&2

.venv/bin/python -m benchmarks.scanners.compare --venv "$VENV" --out benchmarks/results/scanners.md
