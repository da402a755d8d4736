//! An embedder outside this workspace (`examples/embed`, its own
//! `Cargo.toml` depending on `portalocker-host` by path, no build script)
//! builds, and the runtime it makes gives a guest real locks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::{Sandbox, guests};

/// Builds the example into this workspace's target directory (it shares the
/// compiled dependencies) and returns its binary.
fn build_embed_example() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("examples/embed/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building examples/embed failed");
    target.join("debug").join(format!(
        "portalocker-embed-example{}",
        std::env::consts::EXE_SUFFIX
    ))
}

#[test]
#[cfg_attr(
    windows,
    ignore = "builds the embedder with cargo, which the Windows test binary cannot start under Wine"
)]
fn an_embedder_outside_the_workspace_runs_a_locking_guest() {
    let embed = build_embed_example();
    let sandbox = Sandbox::new();
    let path = sandbox.path("x.lock");
    let mut gate = Holder::lock(&sandbox.path("gate"), Mode::Exclusive);
    let mut child = Command::new(&embed)
        .arg(guests::HOLD)
        .arg(sandbox.root())
        .args(["--until", "gate", "x.lock", "exclusive", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the embed example");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked", "the guest did not lock");
    assert!(!native::flock_n(&path), "the guest's lock is not real");
    gate.release();
    let status = child.wait().unwrap();
    assert!(status.success(), "the guest failed: {status}");
    assert!(native::flock_n(&path), "the lock outlived the guest");
}
