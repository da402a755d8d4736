#!/usr/bin/env bash
# Builds the SQLite guest `sqlite` into the component OUT.wasm with the C
# toolchain from guest/c/install.sh (which also fetches the SQLite
# amalgamation): wit-bindgen generates the C bindings of
# portalocker:filelock/command, clang compiles SQLite, the portalocker VFS
# (portalocker_vfs.c) and the program (sqlite.c) into a wasm32-wasi reactor
# module, and wasm-tools turns that into a component with the
# wasi_snapshot_preview1 reactor adapter.
#
# SQLite's object file is compiled once per version and set of options and
# kept next to the sources in the toolchain directory (it takes a minute;
# the rest takes a second).
set -euo pipefail

SQLITE_VERSION=3.54.1
# Rollback journals only (WAL needs shared memory a guest cannot map), no
# threads, no extensions, temporary tables in memory (no temporary
# directory in a guest), fine-grained busy waits (usleep), fdatasync (as
# native Linux builds use), no mmap.
SQLITE_OPTIONS=(
    -DSQLITE_OMIT_WAL -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION
    -DSQLITE_TEMP_STORE=3 -DHAVE_USLEEP=1 -DHAVE_FDATASYNC=1 -DSQLITE_MAX_MMAP_SIZE=0
    -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_DEFAULT_MEMSTATUS=0
)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/c

if [[ $# -ne 1 ]]; then
    echo "usage: guest/sqlite/build.sh OUT.wasm" >&2
    exit 1
fi
wit_bindgen=$dir/bin/wit-bindgen
wasm_tools=$dir/bin/wasm-tools
adapter=$dir/wasi_snapshot_preview1.reactor.wasm
sources=$dir/sqlite-$SQLITE_VERSION
if [[ ! -x $wit_bindgen || ! -x $wasm_tools || ! -f $adapter || ! -f $sources/sqlite3.c ]] ||
    ! command -v clang-14 >/dev/null || [[ ! -d /usr/lib/wasm32-wasi ]]; then
    echo "error: c toolchain not found (with SQLite $SQLITE_VERSION); run guest/c/install.sh" >&2
    exit 1
fi
out=$(realpath -m "$1")
mkdir -p "$(dirname "$out")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# SQLite itself, once per set of options (written atomically: builds may run
# side by side).
key=$(printf '%s\n' "$SQLITE_VERSION" "${SQLITE_OPTIONS[@]}" "$(clang-14 --version | head -n 1)" |
    sha256sum | cut -c1-16)
object=$sources/sqlite3-$key.o
# One build at a time compiles it (the host's and the tests' build scripts
# run side by side); the others wait for it and reuse it.
exec 9>"$sources/.compile.lock"
flock 9
if [[ ! -f $object ]]; then
    clang-14 --target=wasm32-wasi -O2 -w "${SQLITE_OPTIONS[@]}" -c "$sources/sqlite3.c" \
        -o "$tmp/sqlite3.o"
    mv -f "$tmp/sqlite3.o" "$object"
fi
flock -u 9

"$wit_bindgen" c "$repo/wit" --world portalocker:filelock/command --out-dir "$tmp" \
    >"$tmp/wit-bindgen.log" 2>&1 || { cat "$tmp/wit-bindgen.log" >&2; exit 1; }
clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
    "${SQLITE_OPTIONS[@]}" -Wl,--strip-debug -I"$tmp" -I"$sources" -I"$here" \
    -o "$tmp/sqlite.core.wasm" \
    "$here/sqlite.c" "$here/portalocker_vfs.c" "$object" "$tmp/command.c" \
    "$tmp/command_component_type.o"
"$wasm_tools" component new "$tmp/sqlite.core.wasm" \
    --adapt "wasi_snapshot_preview1=$adapter" -o "$out"
