#!/usr/bin/env bash
# tools/verify/run.sh [OUTDIR] -- builds and runs every Relacy model of csp.h
# (tools/verify/*_model.cpp) with csp.h's memory orders, and every mutation a
# model lists on its "MUTATIONS:" line (-DCSP_MUTATE=N). Passes only when
# every model passes AND Relacy reports a failure for every mutation.
#   CXX=...          compiler (default g++)
#   VERIFY_JOBS=N    parallel builds (default 2)
#   VERIFY_SCALE=P   random-schedule iterations in percent (default 100)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-build/verify}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cxx=${CXX:-g++}
jobs=${VERIFY_JOBS:-2}
scale=${VERIFY_SCALE:-100}
# -std=c++11: Relacy predates C++17's removals; -w: its headers warn a lot.
# The real orders run every schedule: -O1. A mutation stops at its first
# failure: -O0 builds in half the time.
flags="-std=c++11 -w -I$here"

if [ ! -f /usr/include/relacy/relacy.hpp ]; then
    echo "verify: Relacy not found (apt-get install relacy-dev)"; exit 1
fi

# One build line per variant: NAME SOURCE MUTATION (0: the real orders).
variants=()
for src in "$here"/*_model.cpp; do
    name=$(basename "$src" .cpp)
    variants+=("$name $src 0")
    for m in $(sed -n 's/^ \* MUTATIONS:\(.*\)$/\1/p' "$src"); do variants+=("$name $src $m"); done
done

build() {   # build NAME SOURCE MUTATION
    local bin="$out/$1.m$3"
    local opt=-O0
    [ "$3" = 0 ] && opt=-O1
    if ! $cxx $flags $opt -DCSP_MUTATE="$3" "$2" -o "$bin" >"$bin.build.log" 2>&1; then
        echo "verify: BUILD FAILED $1 (CSP_MUTATE=$3): see $bin.build.log"; return 1
    fi
}
export -f build
export out cxx flags
t0=$SECONDS
printf '%s\n' "${variants[@]}" | xargs -P "$jobs" -L 1 bash -c 'build "$@"' _ || true
echo "verify: built ${#variants[@]} variants in $((SECONDS - t0)) s ($cxx $flags -O1 / -O0)"

pass=0 fail=0
for v in "${variants[@]}"; do
    set -- $v
    name=$1 m=$3 bin="$out/$1.m$3" log="$out/$1.m$3.log"
    if [ ! -x "$bin" ]; then echo "FAIL $name CSP_MUTATE=$m: not built"; fail=$((fail + 1)); continue; fi
    t1=$SECONDS
    "$bin" "$scale" >"$log" 2>&1
    rc=$?
    if [ "$m" = 0 ]; then
        if [ $rc -eq 0 ] && ! grep -q 'FAILED' "$log"; then
            echo "ok   $name: passes with csp.h's orders ($((SECONDS - t1)) s)"
            grep '^model ' "$log" | sed 's/^/       /'
            pass=$((pass + 1))
        else
            echo "FAIL $name: Relacy found a failure with csp.h's orders (full report: $log)"
            grep -E '^model |^[A-Z ]+ \(|^iteration:' "$log" | sed 's/^/       /'
            fail=$((fail + 1))
        fi
    else
        what=$(sed -n "s/^ \*   $m \(.*\)$/\1/p" "$here/$name.cpp" | sed 's| \*/$||')
        # Caught: Relacy itself reported the failure (not a crash, not a timeout).
        if [ $rc -eq 1 ] && grep -q '^model .*: FAILED (' "$log"; then
            kind=$(grep -m1 -o '^model .*: FAILED ([A-Z ]*' "$log" | sed 's/.*FAILED (//')
            echo "ok   $name mutation $m caught ($kind): $what"
            pass=$((pass + 1))
        else
            echo "FAIL $name mutation $m NOT caught (status $rc): $what (log: $log)"
            fail=$((fail + 1))
        fi
    fi
done
echo "verify: $((pass + fail)) checks in $((SECONDS - t0)) s (models and mutations; logs in $out)"
echo "verify: $pass passed, $fail failed"
[ $fail -eq 0 ]
