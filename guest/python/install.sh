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
# What the `existing` guest runs unmodified, and what runs portalocker's tests.
GUEST_WHEELS=(
    portalocker==4.4.2
    filelock==4.3.1
    pytest==9.2.0
    pluggy==1.7.0
    iniconfig==2.3.1
    packaging==26.3
    pygments==2.21.0
)
PORTALOCKER_SDIST=portalocker==4.4.2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/python

die() { echo "error: $*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The stamp names everything installed; a change to any pin reinstalls.
fcntl_version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/portalocker-wasi-fcntl/pyproject.toml")
stamp="componentize-py==$COMPONENTIZE_PY_VERSION setuptools==$SETUPTOOLS_VERSION portalocker-wasi-fcntl==$fcntl_version ${GUEST_WHEELS[*]} sdist:$PORTALOCKER_SDIST"
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

# Our `fcntl` for guests, built from a copy (a build writes into its source).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$here/portalocker-wasi-fcntl" "$tmp/"
"${pip[@]}" install --no-build-isolation --no-deps "$tmp/portalocker-wasi-fcntl" ||
    die "pip install guest/python/portalocker-wasi-fcntl failed"

# Pure-Python wheels for the guest's CPython (3.14), whatever runs pip here.
"${pip[@]}" download --no-deps --only-binary=:all: --python-version 3.14 --implementation py \
    --abi none --platform any -d "$dir/wheels" "${GUEST_WHEELS[@]}" ||
    die "pip download ${GUEST_WHEELS[*]} failed"
# portalocker's tests are only in its source release.
"${pip[@]}" download --no-deps --no-binary portalocker -d "$dir/wheels" "$PORTALOCKER_SDIST" ||
    die "pip download --no-binary portalocker $PORTALOCKER_SDIST failed"
echo "$stamp" >"$dir/installed"
