#!/usr/bin/env bash
# The whole test suite, on a fresh machine: creates and fills .venv, then runs
# lint, format check, type check and every test (unit, integration, emulator, Airflow, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
echo "==> installing the package and its test dependencies into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
.venv/bin/python -m pip install --quiet -e ".[test]" 2>&1 | { grep -v "^WARNING: Location" || true; }

if ! command -v chromium >/dev/null 2>&1; then
    # The browser check of the extra link needs Debian's headless Chromium.
    echo "==> installing chromium (Debian package) for the browser test"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q chromium >/dev/null || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
fi

echo "==> ruff check"
.venv/bin/ruff check .
echo "==> ruff format --check"
.venv/bin/ruff format --check .
echo "==> mypy (strict)"
.venv/bin/mypy
echo "==> pytest"
.venv/bin/python -m pytest -p no:cacheprovider "$@"
