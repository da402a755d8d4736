#!/usr/bin/env bash
# Installs the pinned Python guest toolchain: componentize-py (a binary wheel
# from PyPI that bundles CPython for WASI) in a venv under
# ${PORTALOCKER_TOOLCHAINS:-<repo>/target/toolchains}/python, with
# portalocker-wasi-fcntl (guest/python/portalocker-wasi-fcntl, our `fcntl`
# module for guests) installed in it, and the pinned wheels that
# guest/python/existing/build.sh vendors into its app (portalocker, filelock,
# pytest and its dependencies) plus portalocker's source release (its test
# suite) in wheels/.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
SETUPTOOLS_VERSION=80.9.0

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/python

die() { echo "error: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# portalocker-wasi-fcntl's sources, without what a build leaves beside them.
fcntl_sources=(pyproject.toml fcntl.py portalocker_wasi_fcntl/__init__.py)
fcntl_digest=$(cd "$here/portalocker-wasi-fcntl" && cat "${fcntl_sources[@]}" | sha256sum | cut -c1-16)
# What the `existing` guest vendors (pinned there), and the version of
# portalocker whose source release holds its test suite.
requirements=$here/existing/requirements.txt
portalocker_version=$(sed -n 's/^portalocker==//p' "$requirements")
[[ -n $portalocker_version ]] || die "$requirements pins no portalocker version"
# The stamp names everything installed; a change to any pin, or to our
# package's sources, reinstalls.
stamp="componentize-py==$COMPONENTIZE_PY_VERSION setuptools==$SETUPTOOLS_VERSION portalocker-wasi-fcntl@$fcntl_digest $(grep -v '^#' "$requirements" | tr '\n' ' ')"
if [[ -f $dir/installed ]] && [[ $(cat "$dir/installed") == "$stamp" ]]; then
    exit 0
fi

if [[ ! -x $dir/bin/componentize-py ]] ||
    [[ $("$dir/bin/componentize-py" --version 2>/dev/null) != *" $COMPONENTIZE_PY_VERSION" ]]; then
    # Any CPython 3.9+ with venv and ensurepip will do (the wheel is abi3); without
    # one, Debian's python3-venv provides it.
    has_venv() { command -v "$1" >/dev/null && "$1" -c 'import ensurepip, venv' 2>/dev/null; }
    python=python3
    if ! has_venv $python; then
        python=/usr/bin/python3
        if ! has_venv $python; then
            { apt-get install -y python3 python3-venv || { apt-get update && apt-get install -y python3 python3-venv; }; } >/dev/null ||
                die "could not install python3-venv with apt-get"
            has_venv $python || die "$python has no working venv module"
        fi
    fi

    rm -rf "$dir"
    "$python" -m venv "$dir" || die "$python -m venv $dir failed"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
        "componentize-py==$COMPONENTIZE_PY_VERSION" || die "pip install componentize-py==$COMPONENTIZE_PY_VERSION failed"
    "$dir/bin/componentize-py" --version >/dev/null || die "componentize-py does not run"
fi

pip=("$dir/bin/pip" --quiet --disable-pip-version-check)
"${pip[@]}" install --only-binary=:all: "setuptools==$SETUPTOOLS_VERSION" ||
    die "pip install setuptools==$SETUPTOOLS_VERSION failed"

# Our `fcntl` for guests, built from a copy of its sources (a build writes
# into its folder, and must not pick up an earlier build's leftovers).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/portalocker-wasi-fcntl"
tar -C "$here/portalocker-wasi-fcntl" -cf - "${fcntl_sources[@]}" | tar -C "$tmp/portalocker-wasi-fcntl" -xf -
"${pip[@]}" install --force-reinstall --no-build-isolation --no-deps "$tmp/portalocker-wasi-fcntl" ||
    die "pip install guest/python/portalocker-wasi-fcntl failed"

# Pure-Python wheels for the guest's CPython (3.14), whatever runs pip here.
"${pip[@]}" download --no-deps --only-binary=:all: --python-version 3.14 --implementation py \
    --abi none --platform any -d "$dir/wheels" -r "$requirements" ||
    die "pip download -r guest/python/existing/requirements.txt failed"
# portalocker's tests are only in its source release.
"${pip[@]}" download --no-deps --no-binary portalocker -d "$dir/wheels" "portalocker==$portalocker_version" ||
    die "pip download --no-binary portalocker portalocker==$portalocker_version failed"
echo "$stamp" >"$dir/installed"
