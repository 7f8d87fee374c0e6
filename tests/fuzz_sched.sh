#!/usr/bin/env bash
# tests/fuzz_sched.sh BINARY SEEDS [FILTER] -- schedule fuzzing: run the test
# binary in deterministic mode (CSP_SEED=1..SEEDS, one thread, every
# scheduling choice drawn from the seed; CSP_SEED_VIRTUAL_TIME from the
# environment, default 1) and stop at the first seed that fails, printing
# its output and the command that replays it exactly. FILTER selects tests
# (CSP_TEST_FILTER). Each run is bounded by CSP_FUZZ_TIMEOUT seconds (30).
set -uo pipefail
bin=${1:?usage: tests/fuzz_sched.sh BINARY SEEDS [FILTER]}
seeds=${2:?usage: tests/fuzz_sched.sh BINARY SEEDS [FILTER]}
filter=${3:-}
vt=${CSP_SEED_VIRTUAL_TIME-1}
limit=${CSP_FUZZ_TIMEOUT:-30}
[ -x "$bin" ] || { echo "fuzz-sched: no binary $bin" >&2; exit 2; }
out=$(mktemp); trap 'rm -f "$out"' EXIT
t0=$SECONDS
for ((s = 1; s <= seeds; s++)); do
    if ! CSP_SEED=$s CSP_SEED_VIRTUAL_TIME=$vt CSP_TEST_FILTER="$filter" timeout "$limit" "$bin" >"$out" 2>&1; then
        echo "fuzz-sched: $bin fails with CSP_SEED=$s (after $((s - 1)) passing seeds):"
        tail -n 40 "$out"
        echo "replay: CSP_SEED=$s CSP_SEED_VIRTUAL_TIME=$vt CSP_TEST_FILTER='$filter' $bin"
        exit 1
    fi
done
echo "fuzz-sched: $bin${filter:+ ($filter)}: $seeds seeds passed in $((SECONDS - t0)) s"
