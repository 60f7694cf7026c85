#!/usr/bin/env bash
# One-command demo on a fresh machine: creates .venv if missing, installs the package, then starts the
# Databricks emulator and a real Airflow, runs the example DAGs and shows what happens.
# Options are passed to scripts/demo.py (e.g. --exit to stop everything once the DAGs finished).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
echo "==> installing airflow-dbx-async and its dependencies into .venv (quiet; takes a while the first time)"
.venv/bin/python -m pip install --quiet -e ".[test]"
exec .venv/bin/python scripts/demo.py "$@"
