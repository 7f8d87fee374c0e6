#!/usr/bin/env bash
# tests/run.sh BUILD_DIR [WRAPPER...] -- run every test binary BUILD_DIR/test_*.
#
# The binaries run one after the other, in name order, each under a timeout
# (CSP_TEST_TIMEOUT seconds, default 600), as `WRAPPER... BINARY` when a wrapper is
# given (e.g. qemu-aarch64, or setarch -R); the wrapper is also exported as
# CSP_TEST_EXEC_WRAPPER so that a test's child processes are started the same way.
# Their output is streamed. Each binary's closing line "N passed, N failed" is added
# to the totals; a binary that times out, is killed by a signal, exits non-zero with
# no failure counted, or ends without that line counts as one more failure.
# The last line is "N passed, N failed" (the totals); the exit status is 1 if any
# test failed, 2 on a usage error.
set -u

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: tests/run.sh BUILD_DIR [WRAPPER...]  (no directory ${1:-given})" >&2
    exit 2
fi
dir=${1%/}
shift
wrapper=("$@")
limit=${CSP_TEST_TIMEOUT:-600}
if [ ${#wrapper[@]} -gt 0 ]; then
    export CSP_TEST_EXEC_WRAPPER="${wrapper[*]}"
fi

bins=()
while IFS= read -r f; do
    [ -f "$f" ] && [ -x "$f" ] && bins+=("$f")
done < <(find "$dir" -maxdepth 1 -name 'test_*' -type f | LC_ALL=C sort)
if [ ${#bins[@]} -eq 0 ]; then
    echo "[  FAILED  ] no test binaries in $dir"
    echo "0 passed, 1 failed"
    exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/csp-run.XXXXXX")
trap 'rm -f "$log"' EXIT

passed=0
failed=0
broken=()
for bin in "${bins[@]}"; do
    name=${bin##*/}
    echo "[==========] $bin${wrapper[*]:+ (via ${wrapper[*]})}"
    start=$SECONDS
    timeout -k 10 "$limit" ${wrapper[@]+"${wrapper[@]}"} "$bin" </dev/null 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    took=$((SECONDS - start))

    p=0 f=0 summary=0
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} summary=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))

    why=
    if [ "$status" -eq 124 ] || { [ "$status" -eq 137 ] && [ "$took" -ge "$limit" ]; }; then
        why="timed out after $limit s"
    elif [ "$status" -gt 128 ]; then
        sig=$((status - 128))
        why="killed by signal $sig (SIG$(kill -l "$sig" 2>/dev/null || echo '?'))"
    elif [ "$status" -ne 0 ] && ! { [ "$status" -eq 1 ] && [ "$f" -gt 0 ]; }; then
        why="exited with status $status"
        [ "$f" -gt 0 ] || why="$why with no failed test counted"
    elif [ "$summary" -eq 0 ]; then
        why="ended without its 'N passed, N failed' line"
    fi
    if [ -n "$why" ]; then
        echo "[  FAILED  ] $name: $why"
        failed=$((failed + 1))
        broken+=("$name: $why")
    elif [ "$f" -gt 0 ]; then
        broken+=("$name: $f failed")
    fi
    echo "[==========] $name: $p passed, $f failed${why:+, $why} ($took s)"
done

echo
if [ ${#broken[@]} -gt 0 ]; then
    echo "failures in $dir:"
    printf '    %s\n' "${broken[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
