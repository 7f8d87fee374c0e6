#!/usr/bin/env bash
# tests/gdb/run.sh [BINARY [AARCH64_BINARY]] -- tools/csp-gdb.py against
# tests/gdb/parked.c.
#
# BINARY is a -g build of tests/gdb/parked.c (default: build/gdb/parked, built
# here with $CC if missing); AARCH64_BINARY a static AArch64 one (default:
# built here with aarch64-linux-gnu-gcc when there is one). gdb stops it in all_parked(), where 100
# goroutines are parked (20 each in park_in_recv, park_in_mutex,
# park_in_sleep, park_in_wg, park_in_select), one computes (spinner) and main
# runs. Checked, each time with the same gdb commands:
#   live            the stopped process (default stack guards)
#   kernel-core     the kernel's core dump of it (gdb delivers SIGQUIT), when
#                   kernel.core_pattern writes a plain file; else SKIP
#   live-mprotect   the process again, with CSP_GUARD_MODE=mprotect
#   gcore           the core gdb's gcore wrote of that one. (With Linux 6.13+
#                   kernel guard regions gcore drops the goroutines' memory:
#                   it copies 1 MiB chunks and skips each one that touches a
#                   guard, hence mprotect guards for this one.)
#   aarch64-live    the AArch64 build under qemu-aarch64's gdbstub, with
#                   gdb-multiarch (SKIP without them; no core there)
# Each check prints PASS/FAIL/SKIP; the exit status is 1 if any failed.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if ! command -v gdb >/dev/null 2>&1; then echo "FAIL gdb is not installed"; exit 1; fi
bin=${1:-build/gdb/parked}
if [ ! -x "$bin" ]; then
    mkdir -p "$(dirname "$bin")"
    ${CC:-gcc} -std=c11 -O2 -g -Wall -Wextra -Werror -pthread -I. tests/gdb/parked.c -o "$bin" -lm || exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
script=${CSP_GDB_SCRIPT:-$PWD/tools/csp-gdb.py}   # override: check another copy
work=$(mktemp -d "${TMPDIR:-/tmp}/csp-gdb.XXXXXX")
qpid=
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$work"' EXIT
limit=${CSP_GDB_TIMEOUT:-120}
failed=0

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failed=1; }

kinds=(recv mutex sleep wg select)
reasons=("chan receive" "sync.Mutex.Lock" "sleep" "sync.WaitGroup.Wait" "select")

# The commands every session runs once it has a stopped process or a core.
{
    echo "source $script"
    echo 'echo @@@ INFO\n'
    echo 'info goroutines'
    for k in 0 1 2 3 4; do
        echo "echo @@@ BT ${kinds[$k]}\\n"
        echo "eval \"goroutine %d bt\", first_id[$k]"
    done
    echo 'echo @@@ ALL\n'
    echo 'goroutine all bt'
    echo 'echo @@@ END\n'
} > "$work/common.gdb"

gdb_run() {   # gdb_run LOG ARGS...: gdb -batch under a timeout, output in LOG
    local log=$1
    shift
    timeout -k 5 "$limit" "${GDB:-gdb}" -nx -batch "$@" </dev/null >"$log" 2>&1
}

section() {   # section LOG NAME: the lines of LOG between "@@@ NAME" and the next "@@@"
    awk -v want="@@@ $2" '$0 == want { on = 1; next } /^@@@ / { on = 0 } on' "$1"
}

check() {   # check LABEL LOG
    local label=$1 log=$2 info n k kind
    if [ ! -s "$log" ] || ! grep -q '^@@@ END' "$log"; then
        fail "$label: gdb did not get through the commands (see below)"
        sed -n '1,40p' "$log"
        return
    fi
    if grep -q 'Python Exception\|Error occurred in Python\|Traceback' "$log"; then
        fail "$label: the script raised a Python exception"
        grep -m5 -A3 'Python Exception\|Error occurred in Python\|Traceback' "$log"
    fi
    info=$(section "$log" INFO)
    if grep -q '^102 goroutines$' <<<"$info"; then pass "$label: info goroutines lists 102 goroutines"
    else fail "$label: info goroutines does not list 102 goroutines"; echo "$info" | tail -5; fi
    if grep -Eq '^\* +1 +main .* all_parked at [^ ]*parked\.c:[0-9]+' <<<"$info"; then
        pass "$label: main is marked on a thread, in all_parked"
    else fail "$label: main is not shown on a thread in all_parked"; grep -E '^. +1 ' <<<"$info"; fi
    if grep -Eq '^\* +[0-9]+ +spinner +running +[0-9]+ +spin_on_cpu at ' <<<"$info"; then
        pass "$label: the spinner is marked running on a thread, in spin_on_cpu"
    else fail "$label: the spinner is not shown running in spin_on_cpu"; grep spinner <<<"$info"; fi
    for k in 0 1 2 3 4; do
        kind=${kinds[$k]}
        n=$(grep -Ec "^[ *] +[0-9]+ +$kind-[0-9]+ +waiting +${reasons[$k]}.* park_in_$kind at [^ ]*parked\.c:[0-9]+" <<<"$info")
        if [ "$n" -eq 20 ]; then pass "$label: info goroutines: 20 $kind goroutines waiting (${reasons[$k]}) in park_in_$kind"
        else fail "$label: info goroutines: $n of 20 $kind goroutines waiting in park_in_$kind"
             grep -E " $kind-[0-9]+ " <<<"$info" | head -3; fi
        check_bt "$label: goroutine N bt ($kind-0)" "$(section "$log" "BT $kind")" "$kind"
    done
    # goroutine all bt: one header per goroutine, each parked one's trace
    # reaching its park_in_* function and ending at the entry trampoline.
    local all bad=0 count
    all=$(section "$log" ALL)
    count=$(grep -c '^goroutine [0-9]* ' <<<"$all")
    if [ "$count" -eq 102 ]; then pass "$label: goroutine all bt prints 102 goroutines"
    else fail "$label: goroutine all bt prints $count goroutines, not 102"; fi
    bad=$(awk '
        function done() {
            if (kind != "" && (!seen || stopped || first !~ /^#[0-9]+ +(0x[0-9a-f]+ in )?csp__/ ||
                               last !~ /csp[._]+tramp|csp__g_start/)) { print name; n++ }
        }
        /^goroutine [0-9]+ / {
            done(); name = $0; kind = ""; seen = 0; stopped = 0; first = ""; last = ""
            if (match($0, /"(recv|mutex|sleep|wg|select)-/)) kind = substr($0, RSTART + 1, RLENGTH - 2)
            next
        }
        /^#[0-9]+ / {
            last = $0
            if (first == "") first = $0
            if (kind != "" && index($0, " park_in_" kind " (")) seen = 1
            if ($0 ~ / in  \(|\?\? \(/) stopped = 1   # a frame without a function: bad registers
        }
        /Backtrace stopped/ { stopped = 1 }
        END { done(); print n + 0 }' <<<"$all")
    if [ "$(tail -n1 <<<"$bad")" = 0 ]; then pass "$label: goroutine all bt: all 100 parked traces reach their park_in_* and end at csp__tramp"
    else fail "$label: goroutine all bt: $(tail -n1 <<<"$bad") traces do not end cleanly in their park_in_*:"
         head -n -1 <<<"$bad" | head -5; fi
}

check_bt() {   # check_bt LABEL TEXT KIND
    local label=$1 text=$2 kind=$3 first last
    first=$(grep '^#[0-9]' <<<"$text" | head -n1)
    last=$(grep '^#[0-9]' <<<"$text" | tail -n1)
    # The innermost frame is the runtime's switch, and every frame has a
    # function: gdb's heuristics can resync a trace whose first registers are
    # wrong, so reaching park_in_* alone proves little.
    if grep -q "^goroutine [0-9]* \"$kind-0\" \\[" <<<"$text" &&
       grep -Eq '^#[0-9]+ +(0x[0-9a-f]+ in )?csp__' <<<"$first" &&
       ! grep -Eq '^#[0-9]+ .*( in  \(|\?\? \()' <<<"$text" &&
       grep -Eq "^#[0-9]+ .*park_in_$kind \(\) at [^ ]*parked\.c:[0-9]+" <<<"$text" &&
       ! grep -q 'Backtrace stopped' <<<"$text" && grep -Eq 'csp[._]+tramp|csp__g_start' <<<"$last"; then
        pass "$label reaches park_in_$kind and ends at csp__tramp"
    else
        fail "$label: no clean trace through park_in_$kind:"
        echo "$text" | head -20
    fi
}

# ---- live, default guards, then the kernel's core dump of it -----------------------
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|')
kcore=0
case $pattern in core*) [[ $pattern != */* && $pattern != *%* ]] && kcore=1 ;; esac
{
    echo "set cwd $work"
    echo 'break all_parked'
    echo 'run'
    cat "$work/common.gdb"
    if [ $kcore = 1 ]; then echo 'signal SIGQUIT'; else echo 'kill'; fi
} > "$work/live.gdb"
(ulimit -c unlimited 2>/dev/null; gdb_run "$work/live.log" -x "$work/live.gdb" "$bin")
check live "$work/live.log"
if [ $kcore = 1 ]; then
    core=$(ls "$work"/core* 2>/dev/null | head -n1)
    if [ -n "$core" ]; then
        gdb_run "$work/kcore.log" -x "$work/common.gdb" "$bin" "$core"
        check kernel-core "$work/kcore.log"
        rm -f "$core"
    else
        echo "SKIP kernel-core: the kernel wrote no core (ulimit -c?)"
    fi
else
    echo "SKIP kernel-core: kernel.core_pattern is '$pattern', not a plain file name"
fi

# ---- live with mprotect guards, and gdb's gcore of it --------------------------------
{
    echo 'break all_parked'
    echo 'run'
    cat "$work/common.gdb"
    echo "gcore $work/gcore.core"
    echo 'kill'
} > "$work/gcore.gdb"
CSP_GUARD_MODE=mprotect gdb_run "$work/live2.log" -x "$work/gcore.gdb" "$bin"
check live-mprotect "$work/live2.log"
if [ -s "$work/gcore.core" ]; then
    gdb_run "$work/gcore.log" -x "$work/common.gdb" "$bin" "$work/gcore.core"
    check gcore "$work/gcore.log"
else
    fail "gcore: gdb wrote no core file"
    grep -i 'gcore\|ptrace\|permission' "$work/live2.log" | head -5
fi

# ---- AArch64: live, under qemu-aarch64's gdbstub -----------------------------------
abin=${2:-}
cross=${CROSS_CC:-aarch64-linux-gnu-gcc}
if [ -z "$abin" ] && command -v "$cross" >/dev/null 2>&1; then
    abin=$work/parked-aarch64
    "$cross" -std=c11 -O2 -g -pthread -static -I. tests/gdb/parked.c -o "$abin" -lm || abin=
fi
if [ -z "$abin" ] || ! command -v gdb-multiarch >/dev/null 2>&1 || ! command -v "${QEMU:-qemu-aarch64}" >/dev/null 2>&1; then
    echo "SKIP aarch64-live: needs $cross, gdb-multiarch and ${QEMU:-qemu-aarch64}"
else
    sock=$work/qemu.sock
    "${QEMU:-qemu-aarch64}" -g "$sock" "$abin" >"$work/qemu.out" 2>&1 &
    qpid=$!
    # qemu creates the socket before the program's first instruction.
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    {
        echo "target remote $sock"
        echo 'break all_parked'
        echo 'continue'
        cat "$work/common.gdb"
        echo 'kill'
    } > "$work/aarch64.gdb"
    GDB=gdb-multiarch gdb_run "$work/aarch64.log" -x "$work/aarch64.gdb" "$abin"
    kill "$qpid" 2>/dev/null
    wait "$qpid" 2>/dev/null
    qpid=
    check aarch64-live "$work/aarch64.log"
fi

if [ $failed = 0 ]; then echo "gdb tests: all passed"; else echo "gdb tests: FAILED"; fi
exit $failed
