#!/usr/bin/env bash
# Runs every test: installs what they need, builds (warnings are errors), runs the suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
swift build --build-tests
swift test --skip-build "$@"
