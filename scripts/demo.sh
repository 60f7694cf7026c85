#!/usr/bin/env bash
# One-command demo on a fresh machine: creates its own virtualenv (.venv-demo) with the tested versions
# of the main lock, then starts the Databricks emulator and a real Airflow, runs the example DAGs and
# shows what happens.
# Options are passed to scripts/demo.py (e.g. --exit to stop everything once the DAGs finished).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_env.sh
echo "==> installing airflow-dbx-async with the tested versions (locks/) into .venv-demo"
bootstrap_uv
install_locked .venv-demo "$PYTHON" "$("$PYTHON" scripts/locks.py describe main | cut -d' ' -f1)"
exec .venv-demo/bin/python scripts/demo.py "$@"
