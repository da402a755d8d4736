#!/usr/bin/env bash
# Builds the C `existing` guest into the component OUT.wasm: existing.c, which
# calls flock(2) as any C program does, linked with ../flock/portalocker_flock.c
# and the linker flags it needs (see compile.sh and portalocker_flock.c).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -ne 1 ]]; then
    echo "usage: guest/c/existing/build.sh OUT.wasm" >&2
    exit 1
fi
exec "$here/../compile.sh" "$1" "$here/existing.c" "$here/../flock/portalocker_flock.c" \
    -Wl,--wrap=open -Wl,--wrap=__wasilibc_open_nomode -Wl,--wrap=close
