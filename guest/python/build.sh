#!/usr/bin/env bash
# Builds the Python `hold` guest into the component OUT.wasm with
# componentize-py (from guest/python/install.sh). The bindings for
# portalocker:filelock/command are generated on the fly during the build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/python

if [[ $# -ne 1 ]]; then
    echo "usage: guest/python/build.sh OUT.wasm" >&2
    exit 1
fi
if [[ ! -x $dir/bin/componentize-py ]]; then
    echo "error: python toolchain not found; run guest/python/install.sh" >&2
    exit 1
fi
out=$(realpath -m "$1")
mkdir -p "$(dirname "$out")"

# Build from a copy of the app so that nothing (such as __pycache__) is
# written into the source tree; the venv is not on the path, so none of its
# packages are bundled.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/app"
cp "$here"/hold.py "$here"/locking.py "$tmp/app/"
cd "$tmp"
env -u VIRTUAL_ENV "$dir/bin/componentize-py" --quiet \
    -d "$repo/wit" -w portalocker:filelock/command \
    componentize -p "$tmp/app" hold -o "$out"
