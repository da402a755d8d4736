#!/usr/bin/env bash
# Builds a C guest into the component OUT.wasm with the toolchain from
# guest/c/install.sh: wit-bindgen generates the C bindings of
# portalocker:filelock/command ("command.h") into a temporary directory,
# clang compiles them with the given sources (and flags) into a wasm32-wasi
# reactor module, and wasm-tools turns that into a component with the
# wasi_snapshot_preview1 reactor adapter (which serves wasi-libc's stdio and
# files). Used by guest/c/build.sh and guest/c/existing/build.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/c

if [[ $# -lt 2 ]]; then
    echo "usage: guest/c/compile.sh OUT.wasm SOURCE.c... [CLANG FLAGS...]" >&2
    exit 1
fi
wit_bindgen=$dir/bin/wit-bindgen
wasm_tools=$dir/bin/wasm-tools
adapter=$dir/wasi_snapshot_preview1.reactor.wasm
if [[ ! -x $wit_bindgen || ! -x $wasm_tools || ! -f $adapter ]] ||
    ! command -v clang-14 >/dev/null || [[ ! -d /usr/lib/wasm32-wasi ]]; then
    echo "error: c toolchain not found; run guest/c/install.sh" >&2
    exit 1
fi
out=$(realpath -m "$1")
shift
mkdir -p "$(dirname "$out")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$wit_bindgen" c "$repo/wit" --world portalocker:filelock/command --out-dir "$tmp" \
    >"$tmp/wit-bindgen.log" 2>&1 || { cat "$tmp/wit-bindgen.log" >&2; exit 1; }
clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
    -Wl,--strip-debug -I"$tmp" -o "$tmp/guest.core.wasm" \
    "$@" "$tmp/command.c" "$tmp/command_component_type.o"
"$wasm_tools" component new "$tmp/guest.core.wasm" \
    --adapt "wasi_snapshot_preview1=$adapter" -o "$out"
