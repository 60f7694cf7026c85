#!/usr/bin/env bash
# One-command demo on a fresh machine: creates its own virtualenv (.venv-demo) if missing, installs the
# package, then starts the
# Databricks emulator and a real Airflow, runs the example DAGs and shows what happens.
# Options are passed to scripts/demo.py (e.g. --exit to stop everything once the DAGs finished).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv-demo
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
fi
echo "==> installing airflow-dbx-async and its dependencies into $VENV (quiet; takes a while the first time)"
"$VENV/bin/python" -m pip install --quiet -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
exec "$VENV/bin/python" scripts/demo.py "$@"
