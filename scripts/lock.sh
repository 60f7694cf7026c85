#!/usr/bin/env bash
# Re-resolve every committed lock (locks/) and the users' constraints files (constraints/). The test
# command installs only from these files, so run this on purpose: after changing a dependency in
# pyproject.toml or tests/lowest/requirements.txt, or to take newer releases. Review the diff and
# run `bash scripts/test.sh` before committing. What each file is resolved from: scripts/locks.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh

if [ ! -f locks/tools.txt ]; then  # first lock ever: any uv can resolve the installer's own lock
    "$PYTHON" -m venv "$TOOLS" && "$TOOLS/bin/python" -m pip install --quiet "$("$PYTHON" scripts/locks.py inputs tools)"
else
    bootstrap_uv
fi
uv_env --lock

compile() {  # compile NAME: resolve NAME's inputs and write its file with the header on top
    local name=$1 path python exclude bound hashes args body
    read -r path python exclude bound hashes <<<"$("$PYTHON" scripts/locks.py describe "$name")"
    args=(--quiet --no-header --python-version "$python" --python-platform x86_64-manylinux_2_28)
    [ "$exclude" != - ] && args+=(--exclude-newer "$exclude")
    [ "$bound" != - ] && args+=(--constraint "$("$PYTHON" scripts/locks.py describe "$bound" | cut -d' ' -f1)")
    if [ "$hashes" = 1 ]; then args+=(--generate-hashes); else args+=(--no-annotate); fi
    body=$("$PYTHON" scripts/locks.py inputs "$name" | "$UV" pip compile "${args[@]}" -) || return 1
    mkdir -p "$(dirname "$path")"
    { "$PYTHON" scripts/locks.py header "$name"; echo "$body"; } >"$path"
    echo "==> $path: $(grep -cE '^[A-Za-z0-9._-]+==' "$path") distributions"
}

for name in tools main lowest newest constraints-3.11 constraints-3.12 constraints-3.13; do
    compile "$name"
done
"$PYTHON" scripts/locks.py check && echo "==> every lock matches pyproject.toml"
