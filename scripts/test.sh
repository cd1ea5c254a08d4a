#!/usr/bin/env bash
# Runs every test: installs what they need, lints, builds (warnings are errors), runs the suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
# Formatting (.swift-format) is part of the test: a lint finding fails it.
swift format lint --strict --recursive Sources Tests Benchmarks migrations Package.swift
swift build --build-tests
# One test at a time: many tests start daemons and simulators as processes, and on two cores
# running them all at once makes timeouts, not findings (about 2.5 minutes in all).
swift test --skip-build --no-parallel "$@"
