#!/usr/bin/env bash
# Installs the pinned JavaScript guest toolchain: componentize-js (SpiderMonkey
# for WASI, from npm) with every dependency pinned by package-lock.json, into
# ${PORTALOCKER_TOOLCHAINS:-<repo>/target/toolchains}/js. Needs Node.js >= 18
# and npm (installed with apt when missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/js

die() { echo "error: $*" >&2; exit 1; }

# Already installed from the same lock file (copied to .installed last): done.
if [[ -x $dir/node_modules/.bin/componentize-js ]] &&
    cmp -s "$here/package-lock.json" "$dir/.installed"; then
    exit 0
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get install -y nodejs npm >/dev/null || die "could not install nodejs and npm with apt-get"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 18)) || die "Node.js >= 18 needed, found $(node --version)"

rm -rf "$dir"
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
npm ci --prefix "$dir" --omit=dev --no-audit --no-fund --loglevel=error >/dev/null ||
    die "npm ci of the componentize-js toolchain into $dir failed"
"$dir/node_modules/.bin/componentize-js" --version >/dev/null || die "componentize-js does not run"
cp "$here/package-lock.json" "$dir/.installed"
