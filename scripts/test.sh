#!/usr/bin/env bash
# Runs every test: installs what they need, lints, builds (warnings are errors), runs the suites,
# then the console in a real browser and the unit under a real systemd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
# Formatting (.swift-format) is part of the test: a lint finding fails it.
swift format lint --strict --recursive Sources Tests Benchmarks migrations Package.swift
swift build --build-tests
# Many tests start daemons and simulators as processes and wait on them: six processes of one
# test at a time each (running them all at once made timeouts, not findings). Arguments, as in
# `bash scripts/test.sh --filter DrainTests`, run just those, in one process.
if [ "$#" -gt 0 ]; then
    swift test --skip-build --no-parallel "$@"
else
    bash scripts/run-suites.sh
fi
# Legnext's own Python SDK (PyPI legnext, pinned) against our simulator: the judge of whether
# the simulator answers like Legnext. Prints "skipped: …" where PyPI or venv cannot work.
bash scripts/sdk-conformance.sh .build/debug/legnext-sim
# The web console in a real Chromium (scripts/browser-test.sh; "skipped: …" without one).
bash scripts/browser-test.sh .build/debug/legnext-queue
# The unit under a real systemd (about a minute); says "skipped: …" and passes where the
# machine cannot boot one in namespaces.
bash scripts/systemd-test.sh .build/debug
