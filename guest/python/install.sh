#!/usr/bin/env bash
# Installs the pinned Python guest toolchain: componentize-py (a binary wheel
# from PyPI that bundles CPython for WASI) in a venv under
# ${PORTALOCKER_TOOLCHAINS:-<repo>/target/toolchains}/python.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/python

die() { echo "error: $*" >&2; exit 1; }

if [[ -x $dir/bin/componentize-py ]] &&
    [[ $("$dir/bin/componentize-py" --version 2>/dev/null) == *" $COMPONENTIZE_PY_VERSION" ]]; then
    exit 0
fi

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
