#!/usr/bin/env bash
# Installs Python's portalocker (pinned, with its hash, in requirements.txt)
# in a venv under ${PORTALOCKER_TOOLCHAINS:-<repo>/target/toolchains}/portalocker-py,
# the native peer of tests/all/python_portalocker.rs: a real portalocker
# process locking the same files as a guest, class by class.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/portalocker-py
requirements=$repo/tests/python/requirements.txt

die() { echo "error: $*" >&2; exit 1; }

if [[ -f $dir/installed ]] && cmp -s "$requirements" "$dir/installed"; then
    exit 0
fi

# portalocker 4.4 needs CPython 3.10 or later, with venv and ensurepip;
# without one, Debian's python3-venv provides it.
usable() {
    command -v "$1" >/dev/null &&
        "$1" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null
}
python=python3
if ! usable $python; then
    python=/usr/bin/python3
    if ! usable $python; then
        { apt-get install -y python3 python3-venv || { apt-get update && apt-get install -y python3 python3-venv; }; } >/dev/null ||
            die "could not install python3-venv with apt-get"
        usable $python || die "$python is not CPython 3.10+ with a working venv module"
    fi
fi

rm -rf "$dir"
"$python" -m venv "$dir" || die "$python -m venv $dir failed"
"$dir/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    --require-hashes -r "$requirements" || die "pip install -r $requirements failed"
"$dir/bin/python" -c 'import portalocker' || die "portalocker does not import"
# Written last: tests/build.rs looks for it.
cp "$requirements" "$dir/installed"
