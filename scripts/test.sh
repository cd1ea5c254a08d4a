#!/usr/bin/env bash
# Runs every test: installs what they need, lints, builds (warnings are errors), runs the suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
# Formatting (.swift-format) is part of the test: a lint finding fails it.
swift format lint --strict --recursive Sources Tests Benchmarks migrations Package.swift
swift build --build-tests
swift test --skip-build "$@"
