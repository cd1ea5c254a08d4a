#!/usr/bin/env bash
# Runs the Swift test suites in six processes at once, each one test at a time, and prints each
# process's report as it ends. Most tests wait on daemons, simulators and real timeouts, not on
# the CPU; inside one process a test that waits on another process holds a thread the others
# need, so the suites overlap across processes instead. The last group is "everything else":
# a new suite always runs. Usage: scripts/run-suites.sh [BUNDLE]
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-$(swift build --show-bin-path)/legnext-queuePackageTests.xctest}
if [ ! -x "$bundle" ]; then
    echo "no test bundle at $bundle: run 'swift build --build-tests' first" >&2
    exit 1
fi
# Balanced by the suites' measured lengths (Benchmarks/README.md, "The suite's wall time").
groups=(
    'DaemonProcessTests'
    'OutputsTests|CarelessRowsTests|ObservabilityTests|CommandTests'
    'CallbackTests|AccountPauseTests|SystemdTests'
    'AccountPoolTests|DiskFullTests|SlowConnectionTests'
    'DrainTests|ImportTests'
)
everything_else=$(IFS='|'; echo "${groups[*]}")
count=$((${#groups[@]} + 1))
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
started=$(date +%s)
declare -A group_of
for ((index = 0; index < count; index++)); do
    if [ "$index" -lt "${#groups[@]}" ]; then selection=(--filter "${groups[$index]}"); else selection=(--skip "$everything_else"); fi
    "$bundle" --testing-library swift-testing --no-parallel "${selection[@]}" >"$logs/$index.log" 2>&1 &
    group_of[$!]=$index
done
failed=0
for ((waited = 0; waited < count; waited++)); do
    wait -n -p ended "${!group_of[@]}"
    status=$?
    echo "=== test group $((group_of[$ended] + 1)) of $count, after $(($(date +%s) - started)) s"
    cat "$logs/${group_of[$ended]}.log"
    [ "$status" = 0 ] || failed=1
    unset "group_of[$ended]"
done
echo "=== all $count test groups ended after $(($(date +%s) - started)) s"
if [ "$failed" != 0 ]; then
    echo "failing tests:"
    grep -h "✘ Test .* failed" "$logs"/*.log || true
    exit 1
fi
