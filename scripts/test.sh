#!/usr/bin/env bash
# The whole test suite on a fresh machine, in three legs; each leg has its own virtualenv, filled from
# a committed lock (locks/, refreshed only by scripts/lock.sh) with the installer pinned in
# locks/tools.txt:
#   main    .venv         Python 3.11, the newest releases at lock time: ruff, format, mypy, then every
#                         test (unit, integration, emulator, Airflow, docs, end-to-end); its packaging
#                         check (sdist, wheel, the wheel in a fresh virtualenv) has a line of its own
#   lowest  .venv-lowest  Python 3.11 with the declared minimum Airflow, aiohttp and asgiref: the
#                         aioresponses client tests (tests/lowest), unit, integration, Airflow-layer
#   newest  .venv-newest  Python 3.13, the main leg's versions: client, emulator, hooks, operators and
#                         triggers (where the interpreter matters); the rest runs in the main leg
# A lock that no longer matches pyproject.toml stops the command at once, before any install.
# Arguments go to the main leg's pytest (e.g. -m "not e2e"); LEGS="main lowest" runs some legs only.
# Each leg prints one result line; the exit status is non-zero when any leg fails or runs no test.
set -uo pipefail
cd "$(dirname "$0")/.."

LEGS="${LEGS:-main lowest newest}"
LOGS=.test-logs
START=$SECONDS
source scripts/_env.sh

# 0. Every leg installs from a committed lock; a lock that no longer matches pyproject.toml stops the
#    command at once with one line naming the command that re-locks.
"$PYTHON" scripts/locks.py check || exit 1
mkdir -p "$LOGS"

lock_of() { "$PYTHON" scripts/locks.py describe "$1" | cut -d' ' -f1; }
python_of() { find_python "$("$PYTHON" scripts/locks.py describe "$1" | cut -d' ' -f2)"; }

install_leg() {  # install_leg LEG VENV: VENV holds exactly LEG's lock; the time taken goes to LEG.install-time
    local leg=$1 venv=$2 began=$SECONDS python
    python=$(python_of "$leg") || {
        echo "Python $("$PYTHON" scripts/locks.py describe "$leg" | cut -d' ' -f2) not found for the $leg leg" >&2
        return 1
    }
    install_locked "$venv" "$python" "$(lock_of "$leg")" || return 1
    echo $((SECONDS - began)) >"$LOGS/$leg.install-time"
}
install_main() { install_leg main .venv; }
install_lowest() { install_leg lowest .venv-lowest; }
install_newest() { install_leg newest .venv-newest; }

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
    printf '%s\n%s\n%s\n%s\n%s\n' "$verdict" "${summary:-no pytest summary} [$(timing "$leg" "$took")]" \
        "$passed" "$((failed + errors))" "$skipped" >"$LOGS/$leg.result"
}

leg_of() {  # leg_of JOB: the leg whose virtualenv JOB runs in
    case $1 in
        main | main-suites | packaging | e2e-*) echo main ;;
        *) echo "$1" ;;
    esac
}

label() {  # label JOB: how the results name JOB
    case $1 in
        packaging) echo "main (packaging)" ;;
        main-suites) echo "main (parity, emulator, reliability)" ;;
        e2e-shared) echo "main (end-to-end, one shared Airflow)" ;;
        e2e-own1) echo "main (end-to-end, Airflows of their own: failover, demo)" ;;
        e2e-own2) echo "main (end-to-end, Airflows of their own: drop-in, repair rights)" ;;
        *) echo "$1" ;;
    esac
}

timing() {  # timing JOB TEST_SECONDS: "install Ns, tests Ns" (install: the leg's virtualenv)
    local file
    file="$LOGS/$(leg_of "$1").install-time"
    echo "install $(cat "$file" 2>/dev/null || echo ?)s, tests ${2}s"
}

install_chromium() {  # Debian's headless Chromium, for the browser check of the end-to-end tests
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q chromium || { $sudo apt-get update -q && $sudo apt-get install -y -q chromium; }
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

run_pytest() {  # run_pytest JOB VENV LOG ARGS...: pytest in VENV, output to LOG, one line when done
    local job=$1 venv=$2 log=$3 began=$SECONDS code
    shift 3
    "$venv/bin/python" -m pytest -p no:cacheprovider --durations=10 "$@" >"$log" 2>&1
    code=$?
    record "$job" "$code" "$log" $((SECONDS - began))
    echo "==> $(label "$job") done: $(sed -n 1p "$LOGS/$job.result"): $(sed -n 2p "$LOGS/$job.result")"
}

explain() {  # explain JOB: when JOB failed, its assertion lines and pytest's short summary
    if [ "${STATUS[$1]:-}" != PASS ] && [ -f "$LOGS/$1.log" ]; then
        echo "==> $1 failed; its summary (full output in $LOGS/$1.log):"
        { grep -E "^E  " "$LOGS/$1.log" | head -20; sed -n '/short test summary info/,$p' "$LOGS/$1.log"; } | tail -60
    fi
}

wants() { [[ " $LEGS " == *" $1 "* ]]; }

# 1. Fill the virtualenvs concurrently (mostly downloads), each logging to .test-logs/, and install
#    Debian's Chromium for the browser check of the end-to-end tests when it is missing.
declare -A INSTALLER
rm -f "$LOGS"/*.result "$LOGS"/*.install-time
echo "==> bootstrapping the installer from locks/tools.txt (log: $LOGS/tools-install.log)"
if ! bootstrap_uv >"$LOGS/tools-install.log" 2>&1; then
    echo "bootstrapping the installer failed; see $LOGS/tools-install.log"
    tail -15 "$LOGS/tools-install.log"
    exit 1
fi
for leg in main lowest newest; do
    if wants "$leg"; then
        echo "==> installing the $leg leg's virtualenv (log: $LOGS/$leg-install.log)"
        "install_$leg" >"$LOGS/$leg-install.log" 2>&1 &
        INSTALLER[$leg]=$!
    fi
done
CHROMIUM=""
if wants main && ! command -v chromium >/dev/null 2>&1; then
    echo "==> installing chromium (Debian package) for the browser test (log: $LOGS/chromium-install.log)"
    install_chromium >"$LOGS/chromium-install.log" 2>&1 &
    CHROMIUM=$!
fi
for leg in "${!INSTALLER[@]}"; do
    if ! wait "${INSTALLER[$leg]}"; then
        STATUS[$leg]="FAIL (install)"
        RESULT[$leg]="installing failed; last lines of $LOGS/$leg-install.log:"$'\n'"$(tail -15 "$LOGS/$leg-install.log")"
    fi
done
for leg in main lowest newest; do
    wants "$leg" && [ -f "$LOGS/$leg.install-time" ] && echo "==> $leg leg installed in $(cat "$LOGS/$leg.install-time")s"
done
echo "==> virtualenvs ready after $((SECONDS - START))s"

# 2. Everything runs side by side. The end-to-end tests mostly wait on Airflow's and the emulator's
#    processes, so they start first, in three groups: the tests that share one Airflow, and two of
#    those that start Airflows of their own (E2E_OWN1, E2E_OWN2). The packaging check and the lowest
#    and newest legs follow in the background, while the main leg lints, type-checks and runs its
#    other tests in the foreground.
#    With pytest arguments, the main leg's tests run as one job with those arguments instead.
E2E_OWN1=(tests/e2e/test_ha.py tests/e2e/test_demo.py)
E2E_OWN2=(tests/e2e/test_dropin.py tests/e2e/test_workflow_repair_auth.py)
JOBS=()
declare -A BACKGROUND
MAIN_READY=0
wants main && [ -z "${STATUS[main]:-}" ] && MAIN_READY=1
if [ "$MAIN_READY" -eq 1 ] && [ $# -eq 0 ]; then
    echo "==> main leg: $(versions .venv)"
    echo "==> main leg, end-to-end tests with Airflows of their own (logs: $LOGS/e2e-own1.log, e2e-own2.log)"
    run_pytest e2e-own1 .venv "$LOGS/e2e-own1.log" "${E2E_OWN1[@]}" &
    BACKGROUND[e2e-own1]=$!
    run_pytest e2e-own2 .venv "$LOGS/e2e-own2.log" "${E2E_OWN2[@]}" &
    BACKGROUND[e2e-own2]=$!
    if [ -n "$CHROMIUM" ] && ! wait "$CHROMIUM"; then
        echo "==> installing chromium failed; see $LOGS/chromium-install.log"
    fi
    echo "==> main leg, end-to-end tests on one shared Airflow (log: $LOGS/e2e-shared.log)"
    ignores=()
    for file in "${E2E_OWN1[@]}" "${E2E_OWN2[@]}"; do ignores+=("--ignore=$file"); done
    run_pytest e2e-shared .venv "$LOGS/e2e-shared.log" tests/e2e "${ignores[@]}" &
    BACKGROUND[e2e-shared]=$!
    JOBS+=(e2e-shared e2e-own1 e2e-own2)
elif [ -n "$CHROMIUM" ]; then
    wait "$CHROMIUM" || echo "==> installing chromium failed; see $LOGS/chromium-install.log"
fi
# The main leg's three largest suites run beside the rest from the start, so that its tests never
# end on one busy core while the other idles.
MAIN_SUITES=(tests/parity tests/emulator tests/reliability)
if [ "$MAIN_READY" -eq 1 ] && [ $# -eq 0 ]; then
    echo "==> main leg, parity, emulator and reliability tests (log: $LOGS/main-suites.log)"
    run_pytest main-suites .venv "$LOGS/main-suites.log" "${MAIN_SUITES[@]}" -m "not e2e" &
    BACKGROUND[main-suites]=$!
    JOBS+=(main-suites)
fi
if [ "$MAIN_READY" -eq 1 ]; then
    # Mostly downloads and builds: it waits on the package index more than it uses the CPU.
    echo "==> packaging: sdist, wheel, twine check, the wheel in a fresh virtualenv (log: $LOGS/packaging.log)"
    run_pytest packaging .venv "$LOGS/packaging.log" tests/packaging &
    BACKGROUND[packaging]=$!
fi
if wants lowest && [ -z "${STATUS[lowest]:-}" ]; then
    echo "==> lowest leg: $(versions .venv-lowest) (log: $LOGS/lowest.log)"
    # The official provider (7.23) needs aiohttp 3.14: the tests that run it beside ours (parity, the
    # side-by-side token and auth-method tests) run in the other legs.
    run_pytest lowest .venv-lowest "$LOGS/lowest.log" tests/lowest tests/unit tests/integration tests/hooks \
        tests/operators tests/triggers tests/outcome tests/workflow tests/test_compat.py tests/test_exceptions.py \
        tests/test_links.py tests/test_provider.py --ignore=tests/integration/test_federation_official.py \
        --ignore=tests/hooks/test_auth_methods_official.py &
    BACKGROUND[lowest]=$!
fi
if wants newest && [ -z "${STATUS[newest]:-}" ]; then
    echo "==> newest leg: $(versions .venv-newest) (log: $LOGS/newest.log)"
    # The same dependency versions as the main leg on a newer Python: where the interpreter matters
    # (asyncio, typing, the standard library): the client, the emulator, hooks, operators and triggers.
    # Parity, reliability, outcome, workflow, plugin-project and docs tests run in the main leg.
    run_pytest newest .venv-newest "$LOGS/newest.log" -m "not e2e and not packaging" tests/unit \
        tests/integration tests/emulator tests/hooks tests/operators tests/triggers tests/test_public_api.py \
        tests/test_layering.py &
    BACKGROUND[newest]=$!
fi
if [ "$MAIN_READY" -eq 1 ]; then
    STATIC_OK=1
    echo "==> ruff check" && .venv/bin/ruff check . || STATIC_OK=0
    echo "==> ruff format --check" && .venv/bin/ruff format --check . || STATIC_OK=0
    echo "==> mypy (strict)" && .venv/bin/mypy || STATIC_OK=0
    if [ $# -eq 0 ]; then
        echo "==> main leg, every other test (log: $LOGS/main.log)"
        suites=()
        for suite in "${MAIN_SUITES[@]}"; do suites+=("--ignore=$suite"); done
        run_pytest main .venv "$LOGS/main.log" --ignore=tests/packaging "${suites[@]}" -m "not e2e"
    else
        echo "==> main leg: $(versions .venv) (log: $LOGS/main.log)"
        run_pytest main .venv "$LOGS/main.log" --ignore=tests/packaging "$@"
    fi
    JOBS=(main packaging "${JOBS[@]}")
fi

# The background jobs' verdicts (a background job cannot set this shell's variables).
for job in "${!BACKGROUND[@]}"; do
    wait "${BACKGROUND[$job]}"
done
wants lowest && JOBS+=(lowest)
wants newest && JOBS+=(newest)
for job in "${JOBS[@]}"; do
    collect "$job"
    explain "$job"
done
if [ "$MAIN_READY" -eq 1 ] && [ "$STATIC_OK" -ne 1 ]; then
    STATUS[main]="FAIL (ruff or mypy)"
fi

echo
echo "==> results ($((SECONDS - START))s in all)"
FAILED_LEGS=0
for job in main main-suites packaging e2e-shared e2e-own1 e2e-own2 lowest newest; do
    wants "$(leg_of "$job")" || continue
    if [[ " ${JOBS[*]} " != *" $job "* ]] && [ -z "${STATUS[$job]:-}" ]; then
        # Not split off: the main leg ran with pytest arguments, or its virtualenv failed to install.
        case $job in e2e-* | packaging | main-suites) continue ;; esac
    fi
    echo "$(label "$job"): ${STATUS[$job]:-FAIL (did not run)}: ${RESULT[$job]:-}"
    [ "${STATUS[$job]:-}" = PASS ] || FAILED_LEGS=$((FAILED_LEGS + 1))
done
echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
[ "$FAILED_LEGS" -eq 0 ]
