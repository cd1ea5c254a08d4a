#!/usr/bin/env bash
# The web console in a real Chromium (Debian's chromium and chromium-driver, selenium from PyPI
# in .build/browser-venv): scripts/browser-test/console_test.py.
#
#   scripts/browser-test.sh [path/to/legnext-queue] [--screenshots DIR]
#
# Prints one line `skipped: <why>` and exits 0 where Chromium, its driver, venv or PyPI are
# missing; otherwise exits with the test's status.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-.build/debug/legnext-queue}"
if [ $# -gt 0 ]; then shift; fi
[ -x "$bin" ] || { echo "error: no legnext-queue binary at $bin" >&2; exit 2; }

selenium_version=4.51.0
venv=.build/browser-venv
skip() {
    echo "skipped: $*"
    exit 0
}
chromium=$(command -v chromium || command -v chromium-browser || true)
driver=$(command -v chromedriver || true)
[ -n "$chromium" ] || skip "no chromium (scripts/deps.sh test installs Debian's chromium)"
[ -n "$driver" ] || skip "no chromedriver (scripts/deps.sh test installs Debian's chromium-driver)"
if ! "$venv/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$selenium_version')" >/dev/null 2>&1; then
    mkdir -p .build
    log=$(mktemp)
    if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv" >"$log" 2>&1; then
        rm -rf "$venv"
        skip "python3 -m venv failed ($(tail -n 1 "$log"))"
    fi
    if ! "$venv/bin/python" -m pip install --quiet "selenium==$selenium_version" >"$log" 2>&1; then
        skip "pip install selenium==$selenium_version failed ($(grep -v '^\s*$' "$log" | tail -n 1)); is PyPI reachable?"
    fi
    rm -f "$log"
fi
# Selenium must not look for a driver on the network: it is given Debian's.
export SE_OFFLINE=true
exec "$venv/bin/python" scripts/browser-test/console_test.py --bin "$bin" --chromium "$chromium" --chromedriver "$driver" "$@"
