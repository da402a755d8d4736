//! Builds the Rust guest components in `guest/` for `wasm32-wasip2`.
//!
//! The guests are a separate cargo workspace, built with a nested cargo into
//! `target/wasm-guests`, never for the host target.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target.
const TARGET: &str = "wasm32-wasip2";

/// Builds every guest binary and returns each one's name and component path.
pub fn build_guests() -> Vec<(String, PathBuf)> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("crate inside the workspace")
        .to_path_buf();
    let guest_dir = root.join("guest");
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-guests");
    println!("cargo:rerun-if-changed={}", guest_dir.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    ensure_target_installed();

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guest_dir)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        .arg("--bins");
    // The outer build's flags and wrappers (clippy, coverage) are for the host
    // target, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Dwarnings");
    let status = cmd
        .status()
        .expect("failed to run cargo for the guest workspace");
    assert!(status.success(), "building the guest components failed");

    let out = target_dir.join(TARGET).join("release");
    guest_bin_names(&guest_dir)
        .into_iter()
        .map(|name| {
            let path = out.join(format!("{name}.wasm"));
            assert!(
                path.exists(),
                "guest {name} was not built at {}",
                path.display()
            );
            (name, path)
        })
        .collect()
}

/// The names of the binaries in `guest/programs/src/bin`.
fn guest_bin_names(guest_dir: &Path) -> Vec<String> {
    let bin_dir = guest_dir.join("programs/src/bin");
    let mut names: Vec<String> = std::fs::read_dir(&bin_dir)
        .expect("guest/programs/src/bin exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// Installs the `wasm32-wasip2` standard library with rustup when it is
/// missing, so a fresh machine needs no manual step.
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("failed to run rustc");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .expect("the wasm32-wasip2 target is missing and rustup could not be run to add it");
    assert!(status.success(), "`rustup target add {TARGET}` failed");
}
