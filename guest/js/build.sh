#!/usr/bin/env bash
# Builds the JavaScript guest `hold` into the component OUT.wasm with the
# toolchain that guest/js/install.sh installed:
#
#     guest/js/build.sh OUT.wasm
#
# The engine's HTTP features are left out (`--disable http fetch-event`):
# with them the component would import wasi:http, which the host does not
# provide. No AOT (`--aot` would fetch weval at build time).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/js
componentize=$dir/node_modules/.bin/componentize-js

[[ $# -eq 1 ]] || { echo "usage: $0 OUT.wasm" >&2; exit 1; }
out=$1

if [[ ! -x $componentize ]]; then
    echo "error: javascript toolchain not found; run guest/js/install.sh" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
# componentize-js writes its temporaries under TMPDIR. It maps the current
# directory into the engine to load the source, and mangles the source path
# unless it is given relative to that directory: run it from here.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"
TMPDIR=$tmp "$componentize" hold.js \
    --wit "$repo/wit" \
    --world-name portalocker:filelock/command \
    --disable http fetch-event \
    --out "$out"
