#!/usr/bin/env bash
# Builds the C `hold` guest into the component OUT.wasm (see compile.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -ne 1 ]]; then
    echo "usage: guest/c/build.sh OUT.wasm" >&2
    exit 1
fi
exec "$here/compile.sh" "$1" "$here/hold.c"
