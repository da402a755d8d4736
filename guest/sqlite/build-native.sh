#!/usr/bin/env bash
# Builds guest/sqlite/native_bench.c into the host program OUT: the native
# baseline of the SQLite guest in the benchmark, from the same SQLite
# amalgamation (installed by guest/c/install.sh) and with the same options
# as guest/sqlite/build.sh, compiled with the same clang for the host
# (SQLite's object file is kept in the toolchain directory, as build.sh
# keeps the guest's).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/c
# The version and options of build.sh.
eval "$(sed -n '/^SQLITE_VERSION=/p; /^SQLITE_OPTIONS=(/,/^)/p' "$here/build.sh")"
sources=$dir/sqlite-$SQLITE_VERSION

if [[ $# -ne 1 ]]; then
    echo "usage: guest/sqlite/build-native.sh OUT" >&2
    exit 1
fi
if [[ ! -f $sources/sqlite3.c ]] || ! command -v clang-14 >/dev/null; then
    echo "error: c toolchain not found (with SQLite $SQLITE_VERSION); run guest/c/install.sh" >&2
    exit 1
fi
out=$(realpath -m "$1")
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# SQLite itself, once per set of options (as build.sh keeps the guest's).
key=$(printf '%s\n' native "$SQLITE_VERSION" "${SQLITE_OPTIONS[@]}" "$(clang-14 --version | head -n 1)" |
    sha256sum | cut -c1-16)
object=$sources/sqlite3-$key.o
# One build at a time compiles it (the host's and the tests' build scripts
# run side by side); the others wait for it and reuse it.
exec 9>"$sources/.compile.lock"
flock 9
if [[ ! -f $object ]]; then
    clang-14 -O2 -w "${SQLITE_OPTIONS[@]}" -c "$sources/sqlite3.c" -o "$tmp/sqlite3.o"
    mv -f "$tmp/sqlite3.o" "$object"
fi
flock -u 9
clang-14 -O2 -Wall -Wextra -Werror "${SQLITE_OPTIONS[@]}" -I"$sources" -o "$tmp/native_bench" \
    "$here/native_bench.c" "$object" -lm
mv -f "$tmp/native_bench" "$out"
