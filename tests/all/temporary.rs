//! Temporary locks across processes: a holder's release removes only the
//! file it still locks, so a file somebody else created or moved to the
//! path in the meantime survives, and with it its holder's lock. Each
//! holder is a `portalocker run` process of its own.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use portalocker_tests::native::{self, Holder, Mode};
use portalocker_tests::portalocker_bin;

/// `portalocker run --dir DIR::/ hold ARGS...`.
fn hold(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(portalocker_bin());
    command
        .arg("run")
        .arg("--no-cache")
        .arg("--dir")
        .arg(format!("{}::/", dir.display()))
        .arg("hold")
        .args(args);
    command
}

/// Starts a temporary-lock holder of `t.lock` that keeps it until it can
/// take a shared lock on `gate`; returns once it holds the lock.
fn temporary_holder(dir: &Path, gate: &str) -> Child {
    let mut child = hold(
        dir,
        &[
            "--layer",
            "temporary",
            "--until",
            gate,
            "t.lock",
            "exclusive",
            "0",
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("start portalocker run");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

/// Whether a third process's single attempt gets the temporary lock.
fn third_gets_it(dir: &Path) -> bool {
    let output = hold(
        dir,
        &["--layer", "temporary", "--try", "t.lock", "exclusive", "0"],
    )
    .output()
    .unwrap();
    match output.status.code() {
        Some(0) => true,
        Some(2) => false,
        _ => panic!("{output:?}"),
    }
}

#[test]
fn a_release_spares_the_file_a_new_holder_created_after_a_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.lock");
    let mut gate_a = Holder::lock(&dir.path().join("gate-a"), Mode::Exclusive);
    let mut gate_b = Holder::lock(&dir.path().join("gate-b"), Mode::Exclusive);
    let mut a = temporary_holder(dir.path(), "gate-a");
    // A cleanup job removes the lock file while A holds it; B creates and
    // locks a new one.
    std::fs::remove_file(&path).unwrap();
    let mut b = temporary_holder(dir.path(), "gate-b");
    gate_a.release();
    assert!(a.wait().unwrap().success());
    assert!(path.exists(), "A's release removed B's lock file");
    assert!(!native::flock_n(&path), "B's lock file is not locked");
    assert!(!third_gets_it(dir.path()), "a third holder got in beside B");
    gate_b.release();
    assert!(b.wait().unwrap().success());
    assert!(!path.exists(), "B's release removes its own file");
}

#[test]
fn a_release_spares_a_file_moved_over_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.lock");
    let mut gate = Holder::lock(&dir.path().join("gate"), Mode::Exclusive);
    let mut a = temporary_holder(dir.path(), "gate");
    // Somebody moves another file over the path while A holds it.
    let newcomer = dir.path().join("newcomer");
    std::fs::write(&newcomer, "someone else's").unwrap();
    std::fs::rename(&newcomer, &path).unwrap();
    gate.release();
    assert!(a.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(&path).ok().as_deref(),
        Some("someone else's"),
        "A's release removed the file moved over its path"
    );
}
