#!/usr/bin/env bash
# Drives the simulator with Legnext's official Python SDK (PyPI legnext==0.3.0): every call the
# SDK has must be accepted and every answer must parse (scripts/sdk-conformance/conformance.py).
#
#   scripts/sdk-conformance.sh [path/to/legnext-sim] [conformance.py options, e.g. --verbose]
#
# The simulator defaults to .build/debug/legnext-sim. The SDK goes into a venv at .build/sdk-venv
# (scripts/sdk-venv.sh: made once, reused while it holds legnext 0.3.0). Without a working
# `python3 -m venv` or without PyPI, prints one line `skipped: <why>` and exits 0; otherwise
# exits with the conformance script's status (non-zero on any FAIL).
set -euo pipefail
cd "$(dirname "$0")/.."

sim="${1:-.build/debug/legnext-sim}"
if [ $# -gt 0 ]; then shift; fi
if [ ! -x "$sim" ]; then
    echo "error: no simulator binary at $sim (swift build --product legnext-sim, or pass its path)" >&2
    exit 2
fi

if ! python=$(bash scripts/sdk-venv.sh); then
    echo "$python"
    exit 0
fi

sim_out=$(mktemp)
secret_file=$(mktemp)
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret_file"
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -f "$sim_out" "$secret_file"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Fast jobs (0.2 s each, no spread) so wait_for_completion and the follow-ups take seconds.
# Callbacks signed as for an account with a webhook secret, so the SDK's verifier is tried on them.
"$sim" --port 0 --duration-median 0.2 --duration-spread 0 --webhook-secret-file "$secret_file" >"$sim_out" 2>&1 &
sim_pid=$!
base_url=""
for _ in $(seq 1 100); do
    base_url=$(sed -n 's/.*listening on \(http:[^ ]*\/api\).*/\1/p' "$sim_out" | head -n 1)
    [ -n "$base_url" ] && break
    if ! kill -0 "$sim_pid" 2>/dev/null; then
        echo "error: $sim exited before listening:" >&2
        cat "$sim_out" >&2
        exit 2
    fi
    sleep 0.1
done
if [ -z "$base_url" ]; then
    echo "error: $sim printed no 'listening on' line within 10 s:" >&2
    cat "$sim_out" >&2
    exit 2
fi

status=0
"$python" scripts/sdk-conformance/conformance.py "$base_url" --webhook-secret-file "$secret_file" "$@" || status=$?
exit "$status"
