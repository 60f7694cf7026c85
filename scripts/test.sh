#!/usr/bin/env bash
# The whole test suite on a fresh machine, in three legs; each leg has its own virtualenv, created
# and filled on demand:
#   main    .venv         Python 3.11, newest dependencies: ruff, format, mypy, then every test
#                         (unit, integration, emulator, Airflow, docs, end-to-end); its packaging
#                         check (sdist, wheel, the wheel in a fresh virtualenv) has a line of its own
#   lowest  .venv-lowest  Python 3.11 with the declared minimum Airflow, aiohttp and asgiref: the
#                         aioresponses client tests (tests/lowest), unit, integration, Airflow-layer
#   newest  .venv-newest  the newest Python every dependency supports (3.13; 3.12 when 3.13 is
#                         missing): every test but the end-to-end and packaging ones
# Arguments go to the main leg's pytest (e.g. -m "not e2e"); LEGS="main lowest" runs some legs only.
# Each leg prints one result line; the exit status is non-zero when any leg fails or runs no test.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
LEGS="${LEGS:-main lowest newest}"
LOGS=.test-logs
mkdir -p "$LOGS"
START=$SECONDS

quiet_pip() {  # pip without the machine's harmless "Location ... is ignored" warnings
    "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
    return "${PIPESTATUS[0]}"
}

find_python() {  # the first working interpreter among python<version> and pyenv's copies
    local version cand
    for version in "$@"; do
        for cand in "python$version" "$(pyenv root 2>/dev/null)/versions/$version"*/bin/"python$version"; do
            if "$cand" -c "import sys" >/dev/null 2>&1; then
                "$cand" -c "import sys; print(sys.executable)"
                return 0
            fi
        done
    done
    return 1
}

make_venv() {  # make_venv DIR PYTHON: create DIR with PYTHON unless it exists, then upgrade pip
    if [ ! -x "$1/bin/python" ]; then
        "$2" -m venv "$1" || return 1
    fi
    quiet_pip "$1/bin/python" -m pip install --quiet --upgrade pip
}

install_main() {
    make_venv .venv "$PYTHON" && quiet_pip .venv/bin/python -m pip install --quiet -e ".[test]"
}

install_lowest() {
    make_venv .venv-lowest "$PYTHON" || return 1
    .venv-lowest/bin/python tests/lowest/pins.py >"$LOGS/lowest-constraints.txt" || return 1
    quiet_pip .venv-lowest/bin/python -m pip install --quiet -e . -r tests/lowest/requirements.txt \
        -c "$LOGS/lowest-constraints.txt"
}

install_newest() {
    local python
    python="${NEWEST_PYTHON:-$(find_python 3.13 3.12)}" || {
        echo "no Python 3.13 or 3.12 found; set NEWEST_PYTHON" >&2
        return 1
    }
    make_venv .venv-newest "$python" && quiet_pip .venv-newest/bin/python -m pip install --quiet -e ".[test]"
}

declare -A RESULT STATUS

record() {  # record LEG EXIT LOG SECONDS: write LOG's pytest closing line and verdict to LEG.result
    local leg=$1 code=$2 log=$3 took=$4 summary passed failed errors skipped verdict
    summary=$(grep -E "^=+ .* in [0-9.]+s.* =+$" "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
    passed=$(grep -oE "[0-9]+ passed" <<<"$summary" | grep -oE "[0-9]+" || echo 0)
    failed=$(grep -oE "[0-9]+ failed" <<<"$summary" | grep -oE "[0-9]+" || echo 0)
    errors=$(grep -oE "[0-9]+ errors?" <<<"$summary" | grep -oE "[0-9]+" || echo 0)
    skipped=$(grep -oE "[0-9]+ skipped" <<<"$summary" | grep -oE "[0-9]+" || echo 0)
    if [ "$code" -eq 0 ] && [ "$passed" -gt 0 ]; then
        verdict=PASS
    elif [ "$code" -eq 5 ] || [ "$code" -eq 0 ]; then
        verdict="FAIL (ran no test)"
    else
        verdict="FAIL (exit $code)"
    fi
    printf '%s\n%s\n%s\n%s\n%s\n' "$verdict" "${summary:-no pytest summary} [${took}s]" \
        "$passed" "$((failed + errors))" "$skipped" >"$LOGS/$leg.result"
}

TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0

collect() {  # collect LEG: read LEG.result into STATUS, RESULT and the totals
    local lines
    [ -f "$LOGS/$1.result" ] || return 0
    mapfile -t lines <"$LOGS/$1.result"
    STATUS[$1]=${lines[0]}
    RESULT[$1]=${lines[1]}
    TOTAL_PASSED=$((TOTAL_PASSED + lines[2]))
    TOTAL_FAILED=$((TOTAL_FAILED + lines[3]))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + lines[4]))
}

versions() {  # the interpreter and core dependency versions of a venv, for the result line
    "$1/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as m, platform
names = ("apache-airflow", "aiohttp", "asgiref")
print(f"Python {platform.python_version()}, " + ", ".join(f"{n} {m.version(n)}" for n in names))
EOF
}

run_pytest() {  # run_pytest LEG VENV LOG ARGS...: pytest in VENV, output to LOG (and the terminal for main)
    local leg=$1 venv=$2 log=$3 began=$SECONDS code
    shift 3
    if [ "$leg" = main ]; then
        "$venv/bin/python" -m pytest -p no:cacheprovider "$@" 2>&1 | tee "$log"
        code=${PIPESTATUS[0]}
    else
        "$venv/bin/python" -m pytest -p no:cacheprovider "$@" >"$log" 2>&1
        code=$?
    fi
    record "$leg" "$code" "$log" $((SECONDS - began))
}

explain() {  # explain JOB: when JOB failed, its assertion lines and pytest's short summary
    if [ "${STATUS[$1]:-}" != PASS ] && [ -f "$LOGS/$1.log" ]; then
        echo "==> $1 failed; its summary (full output in $LOGS/$1.log):"
        { grep -E "^E  " "$LOGS/$1.log" | head -20; sed -n '/short test summary info/,$p' "$LOGS/$1.log"; } | tail -60
    fi
}

wants() { [[ " $LEGS " == *" $1 "* ]]; }

# 1. Fill the virtualenvs concurrently (mostly downloads), each logging to .test-logs/.
declare -A INSTALLER
rm -f "$LOGS"/*.result
for leg in main lowest newest; do
    if wants "$leg"; then
        echo "==> installing the $leg leg's virtualenv (log: $LOGS/$leg-install.log)"
        "install_$leg" >"$LOGS/$leg-install.log" 2>&1 &
        INSTALLER[$leg]=$!
    fi
done
for leg in "${!INSTALLER[@]}"; do
    if ! wait "${INSTALLER[$leg]}"; then
        STATUS[$leg]="FAIL (install)"
        RESULT[$leg]="installing failed; last lines of $LOGS/$leg-install.log:"$'\n'"$(tail -15 "$LOGS/$leg-install.log")"
    fi
done
echo "==> virtualenvs ready after $((SECONDS - START))s"

# 2. The lowest and newest legs' tests (light on CPU: mostly waiting on emulators and subprocesses)
#    run side by side in the background while the main leg lints, type-checks and checks the
#    packaging. The main leg's tests, with the end-to-end ones, then run alone.
declare -A BACKGROUND
if wants lowest && [ -z "${STATUS[lowest]:-}" ]; then
    echo "==> lowest leg: $(versions .venv-lowest) (log: $LOGS/lowest.log)"
    # The official provider (7.23) needs aiohttp 3.14: its parity tests run in the other legs.
    run_pytest lowest .venv-lowest "$LOGS/lowest.log" tests/lowest tests/unit tests/integration tests/airflow \
        --ignore=tests/airflow/test_workflow_parity.py &
    BACKGROUND[lowest]=$!
fi
if wants newest && [ -z "${STATUS[newest]:-}" ]; then
    echo "==> newest leg: $(versions .venv-newest) (log: $LOGS/newest.log)"
    run_pytest newest .venv-newest "$LOGS/newest.log" -m "not e2e and not packaging" &
    BACKGROUND[newest]=$!
fi
if wants main && [ -z "${STATUS[main]:-}" ]; then
    if ! command -v chromium >/dev/null 2>&1; then
        # The browser check of the extra link needs Debian's headless Chromium.
        echo "==> installing chromium (Debian package) for the browser test"
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get install -y -q chromium >/dev/null \
            || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
    fi
    STATIC_OK=1
    echo "==> ruff check" && .venv/bin/ruff check . || STATIC_OK=0
    echo "==> ruff format --check" && .venv/bin/ruff format --check . || STATIC_OK=0
    echo "==> mypy (strict)" && .venv/bin/mypy || STATIC_OK=0
    echo "==> packaging: sdist, wheel, twine check, the wheel in a fresh virtualenv (log: $LOGS/packaging.log)"
    run_pytest packaging .venv "$LOGS/packaging.log" tests/packaging
    collect packaging
    explain packaging
fi

# The background jobs' verdicts (a background job cannot set this shell's variables).
for job in "${!BACKGROUND[@]}"; do
    wait "${BACKGROUND[$job]}"
    collect "$job"
    explain "$job"
done

if wants main && [ -z "${STATUS[main]:-}" ]; then
    echo "==> main leg: $(versions .venv)"
    run_pytest main .venv "$LOGS/main.log" --ignore=tests/packaging "$@"
    collect main
    if [ "$STATIC_OK" -ne 1 ]; then
        STATUS[main]="FAIL (ruff or mypy)"
    fi
fi

echo
echo "==> results ($((SECONDS - START))s in all)"
FAILED_LEGS=0
for leg in main packaging lowest newest; do
    if wants "${leg/packaging/main}"; then
        label=$leg
        [ "$leg" = packaging ] && label="main (packaging)"
        echo "$label: ${STATUS[$leg]:-FAIL (did not run)}: ${RESULT[$leg]:-}"
        [ "${STATUS[$leg]:-}" = PASS ] || FAILED_LEGS=$((FAILED_LEGS + 1))
    fi
done
echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
[ "$FAILED_LEGS" -eq 0 ]
