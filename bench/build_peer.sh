#!/bin/sh
# build_peer.sh COMPILER LANG OUT SRC FLAGS...: builds one peer program for
# bench/Makefile. The source names what it needs, one comment line each:
#   // bench-requires: some/header.hpp other/header.h
#   // bench-libs: -lsome_lib
#   // bench-install: apt-get install libsome-dev
# A missing header skips the peer with a message (exit 0, no binary: run.py
# then lists it as not built).
set -u
cc=$1 lang=$2 out=$3 src=$4
shift 4
field() { sed -n "s|^[/* ]*bench-$1:[ ]*||p" "$src" | tr -d '\r' | head -n 1; }
req=$(field requires)
libs=$(field libs)
how=$(field install)
for h in $req; do
    if ! printf '#include <%s>\n' "$h" | "$cc" -x "$lang" "$@" -E - >/dev/null 2>&1; then
        echo "bench: skipping $out: <$h> not found${how:+ (install it: $how)}"
        rm -f "$out"
        exit 0
    fi
done
echo "$cc $* -o $out $src $libs"
# shellcheck disable=SC2086 # $libs is a list of flags
exec "$cc" "$@" -o "$out" "$src" $libs
