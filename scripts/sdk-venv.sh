#!/usr/bin/env bash
# Makes sure .build/sdk-venv holds Legnext's official Python SDK (PyPI legnext==0.3.0), made once
# and reused. Prints the venv's python on success; prints one line `skipped: <why>` and exits 1
# without a working `python3 -m venv` or without PyPI. Used by sdk-conformance.sh and by
# `legnext-bench --only peers`.
set -euo pipefail
cd "$(dirname "$0")/.."

sdk_version=0.3.0
venv=.build/sdk-venv

skip() {
    echo "skipped: $*"
    exit 1
}

has_sdk() {
    "$venv/bin/python" -c "import legnext, sys; sys.exit(legnext.__version__ != '$sdk_version')" >/dev/null 2>&1
}

if ! has_sdk; then
    command -v python3 >/dev/null 2>&1 || skip "python3 not found (scripts/deps.sh test installs it)"
    mkdir -p .build
    setup_log=$(mktemp)
    if [ ! -x "$venv/bin/python" ]; then
        rm -rf "$venv"
        if ! python3 -m venv "$venv" >"$setup_log" 2>&1; then
            rm -rf "$venv"
            why=$(grep -v '^\s*$' "$setup_log" | tail -n 1)
            rm -f "$setup_log"
            skip "python3 -m venv failed (${why:-no message}; on Debian: apt-get install python3-venv, see scripts/deps.sh test)"
        fi
    fi
    if ! "$venv/bin/python" -m pip install --quiet "legnext==$sdk_version" >"$setup_log" 2>&1 || ! has_sdk; then
        why=$(grep -v '^\s*$' "$setup_log" | tail -n 1)
        rm -f "$setup_log"
        skip "pip install legnext==$sdk_version failed (${why:-no message}); is PyPI reachable?"
    fi
    rm -f "$setup_log"
fi
echo "$PWD/$venv/bin/python"
