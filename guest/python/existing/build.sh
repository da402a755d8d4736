#!/usr/bin/env bash
# Builds the Python `existing` guest into the component OUT.wasm: this
# folder's app plus, vendored into it with pip from the wheels
# guest/python/install.sh downloaded, portalocker and filelock exactly as
# PyPI ships them, pytest (with its dependencies) and portalocker's own test
# suite (from its source release), and our portalocker-wasi-fcntl package.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/python

if [[ $# -ne 1 ]]; then
    echo "usage: guest/python/existing/build.sh OUT.wasm" >&2
    exit 1
fi
if [[ ! -x $dir/bin/componentize-py ]] || [[ ! -f $dir/installed ]] || [[ ! -d $dir/wheels ]]; then
    echo "error: python toolchain not found (or installed before the existing-code wheels); run guest/python/install.sh" >&2
    exit 1
fi
out=$(realpath -m "$1")
mkdir -p "$(dirname "$out")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/app"
# The libraries as PyPI ships them (pinned in install.sh), offline, and our
# `fcntl`, the way a guest author adds it to an app (from a copy of its
# sources: building a package writes into its folder, and must not pick up an
# earlier build's leftovers).
mkdir "$tmp/portalocker-wasi-fcntl"
tar -C "$here/../portalocker-wasi-fcntl" -cf - pyproject.toml fcntl.py portalocker_wasi_fcntl/__init__.py |
    tar -C "$tmp/portalocker-wasi-fcntl" -xf -
"$dir/bin/pip" install --quiet --disable-pip-version-check --no-index --find-links "$dir/wheels" \
    --no-build-isolation --no-deps --target "$tmp/app" \
    -r "$here/requirements.txt" "$tmp/portalocker-wasi-fcntl" || {
    echo "error: python toolchain not found with the wheels pinned in requirements.txt; run guest/python/install.sh" >&2
    exit 1
}
# portalocker's test suite, as its source release has it.
version=$(sed -n 's/^portalocker==//p' "$here/requirements.txt")
tar -xzf "$dir/wheels/portalocker-$version.tar.gz" -C "$tmp" "portalocker-$version/portalocker_tests"
mv "$tmp/portalocker-$version/portalocker_tests" "$tmp/app/"
cp "$here"/*.py "$tmp/app/"
cd "$tmp"
env -u VIRTUAL_ENV "$dir/bin/componentize-py" --quiet \
    -d "$repo/wit" -w portalocker:filelock/command \
    componentize -p "$tmp/app" existing -o "$out"
