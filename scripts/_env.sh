# Shared by scripts/test.sh, scripts/lock.sh and scripts/demo.sh (sourced, from the repository root).
# The installer is uv, pinned with hashes in locks/tools.txt and bootstrapped with pip into
# .venv-tools; it reads its index settings from pip's own configuration (scripts/locks.py uv-env).

PYTHON="${PYTHON:-python3.11}"
TOOLS=.venv-tools
UV="$TOOLS/bin/uv"

bootstrap_uv() {  # create .venv-tools with the locked uv (a no-op when it is there already)
    if [ ! -x "$TOOLS/bin/python" ]; then
        "$PYTHON" -m venv "$TOOLS" || return 1
    fi
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
        -r locks/tools.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
    [ "${PIPESTATUS[0]}" -eq 0 ] && "$UV" --version >/dev/null
}

uv_env() {  # export uv's index settings: for installing (pip's indexes), or "--lock" (primary only)
    eval "$("$PYTHON" scripts/locks.py uv-env "$@")"
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

install_locked() {  # install_locked VENV PYTHON LOCK: VENV holds exactly LOCK, then this package editable
    local venv=$1 python=$2 lock=$3
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv" || return 1
    fi
    (
        uv_env
        "$UV" pip sync --quiet --python "$venv/bin/python" --require-hashes "$lock" \
            && "$UV" pip install --quiet --python "$venv/bin/python" --no-deps --no-build-isolation -e .
    )
}
