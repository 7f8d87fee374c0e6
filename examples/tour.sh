#!/usr/bin/env bash
# examples/tour.sh [BUILD_DIR] -- the tour of the examples (`make run`).
#
# Runs every built example BUILD_DIR/NAME (default build/examples), for each
# examples/NAME.c in name order, with stdin from /dev/null and a timeout
# (TOUR_TIMEOUT seconds, default 120). Before each it prints a banner
# "=== NAME ===" and the first line of the example's top comment.
# An example exits 0 unless its source declares otherwise with a comment
#     /* tour: exit=2 */
# and runs without arguments unless it says which with
#     /* tour: args=0.5 */
# (split into words by the shell: no quoting).
# The tour ends with "tour: N examples, N failed" and exits 1 if any failed.
# A second argument runs only the examples whose name contains it
# (`make run EX=tennis`).
set -u

here=$(cd "$(dirname "$0")" && pwd)
bdir=${1:-build/examples}
only=${2:-}
limit=${TOUR_TIMEOUT:-120}

srcs=()
while IFS= read -r f; do
    case $(basename "$f" .c) in *"$only"*) srcs+=("$f") ;; esac
done < <(find "$here" -maxdepth 1 -name '*.c' -type f | LC_ALL=C sort)
if [ ${#srcs[@]} -eq 0 ]; then
    if [ -n "$only" ]; then echo "tour: no example's name contains '$only' (examples/*.c)"; exit 1; fi
    echo "tour: there are no examples yet (examples/*.c)"
    exit 0
fi

# The first line of the comment that opens the file, without the comment marks.
title() {
    local line text started=0
    while IFS= read -r line; do
        if [ $started -eq 0 ]; then
            case $line in
                '') continue ;;
                /\**) text=${line#/\*} ;;
                //*) text=${line#//} ;;
                *) return ;;
            esac
            started=1
        else
            text=$line
            text=${text#"${text%%[! ]*}"}
            text=${text#\*}
        fi
        text=${text%\*/*}
        text=${text#"${text%%[!* ]*}"}
        text=${text%"${text##*[! ]}"}
        if [ -n "$text" ]; then printf '%s\n' "$text"; return; fi
        case $line in *\*/*) return ;; esac
    done < "$1"
}

n=0
failed=0
bad=()
for src in "${srcs[@]}"; do
    name=$(basename "$src" .c)
    n=$((n + 1))
    echo "=== $name ==="
    t=$(title "$src")
    [ -n "$t" ] && echo "$t"
    want=$(sed -nE 's@.*/\*[[:space:]]*tour:[[:space:]]*exit=([0-9]+)[[:space:]]*\*/.*@\1@p' "$src" | head -n 1)
    want=${want:-0}
    args=$(sed -nE 's@.*/\*[[:space:]]*tour:[[:space:]]*args=(.*[^[:space:]])[[:space:]]*\*/.*@\1@p' "$src" | head -n 1)
    bin=$bdir/$name
    if [ ! -x "$bin" ]; then
        echo "--- FAILED: $bin is not built"
        failed=$((failed + 1)); bad+=("$name: not built")
        continue
    fi
    start=$SECONDS
    [ -n "$args" ] && echo "(run as: $name $args)"
    # shellcheck disable=SC2086
    timeout -k 5 "$limit" "$bin" $args </dev/null
    status=$?
    took=$((SECONDS - start))
    if [ "$status" -eq "$want" ]; then
        echo "--- ok: exit status $status ($took s)"
    else
        if [ "$status" -eq 124 ]; then why="timed out after $limit s"
        elif [ "$status" -gt 128 ]; then why="killed by signal $((status - 128))"
        else why="exit status $status"; fi
        echo "--- FAILED: $why, expected exit status $want"
        failed=$((failed + 1)); bad+=("$name: $why, expected $want")
    fi
    echo
done

if [ ${#bad[@]} -gt 0 ]; then
    echo "failed examples:"
    printf '    %s\n' "${bad[@]}"
fi
echo "tour: $n examples, $failed failed"
[ "$failed" -eq 0 ]
